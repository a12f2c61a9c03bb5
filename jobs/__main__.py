from jobs.cli import entrypoint

entrypoint()
