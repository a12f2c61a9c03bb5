"""The accountants' page: sign in, pick ledgers and a period, watch the export, download the files.

Flask with server-rendered Jinja2 templates, served by waitress (`report-export serve`), behind nginx
for TLS (deploy/nginx.conf). Flask because the exporter is synchronous: an export is a thread running
the same runner.execute as the command line. Flask's signed cookie carries a session id and the CSRF
token (Flask-WTF); the sessions themselves live in the state, so the server can end them. Nothing here
plans, locks or writes report files itself: it calls runner and reads state.State, as cli.py does.

    app.py        the Flask app: settings, cookies, security headers, error pages
    auth.py       sign-in, sessions, throttling, the origin check, her own new password
    ledgers.py    the ledgers as the state last saw them, refreshed from the API in the background
    exports.py    the ledgers page, the export form, background exports in folders of their own
    downloads.py  a run's files, found through its manifests, one by one or as a streamed zip
    serve.py      waitress, and the scheduler beside it with --schedule
"""
