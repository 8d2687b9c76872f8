"""The REST API of ``orecart serve --http`` (FastAPI), under ``/api/v1``.

Routes translate HTTP to calls of ``orecart.service.served.Served`` and its typed answers
back, and hold no logic: ``app`` builds the application, ``auth`` checks bearer tokens,
``runs``, ``events`` (server-sent events), ``pipelines`` and ``health`` are the routes,
``schemas`` the bodies, ``server`` runs uvicorn in a thread of the serve process.
FastAPI is imported only by ``serve --http`` (the ``http`` extra).
"""
