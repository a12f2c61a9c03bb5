"""The accountants' page: sign in, pick ledgers and a period, watch the export, download the files.

Flask with server-rendered Jinja2 templates, served by waitress (`report-export serve`). Flask because
the exporter is synchronous: an export is a thread running the same runner.execute as the command
line, and Flask gives signed session cookies (itsdangerous) without an async layer; Flask-WTF gives
the CSRF tokens, argon2-cffi the password hashes. Nothing here plans, locks or writes report files
itself: it calls runner and reads state.State, as cli.py does.

    app.py        the Flask app: settings, sessions, security headers, error pages
    auth.py       sign-in and sign-out, throttling, the signed-in check; password hashing
    exports.py    the ledgers page, the export form, background exports and their progress
    downloads.py  a run's files, found through its manifests, one by one or as a streamed zip
    serve.py      waitress, and the scheduler beside it with --schedule
"""
