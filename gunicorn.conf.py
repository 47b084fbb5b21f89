# gunicorn reads this file from the directory it is started in (the README's commands start it
# from the repository). Access log lines without query values or resume tokens:
# clinic/gunicorn_logging.py.
logger_class = "clinic.gunicorn_logging.MaskedAccessLogger"
