"""``syncdesk serve``: the engine over HTTP, for pipelines and for a page in the browser.

The routes are thin: they check a request, write a job into the queue and read it back.
The analyses and fixes run in worker processes that load the model once and call the same engine
functions as the command line (``analyze_cached``, ``shift_audio``, ``correct_audio``).

* :mod:`.config` what a server is started with; :mod:`.security` the token, the roots, safe names;
* :mod:`.store` the lock that makes one dispatcher per data folder (the jobs themselves live in the batch
  store's ``requests`` table, :mod:`syncdesk.core.batch.store`);
* :mod:`.tasks` what a worker does for one job; :mod:`.worker` the worker process;
  :mod:`.pool` the server's handles on its workers; :mod:`.manager` the dispatcher (the queue's only
  writer of job states) and the live progress;
* :mod:`.schemas` the request and response bodies; :mod:`.bodies` reading them (JSON, or a form
  whose file :mod:`.uploads` streams to disk under a cap); :mod:`.intake` a checked request made a
  queued job; :mod:`.views` jobs as JSON; :mod:`.routes` the ``/v1`` routes; :mod:`.app` the ASGI
  app (token, headers, errors); :mod:`.page` and :mod:`.docs` the page and the API's docs;
* :mod:`.run` starting uvicorn; :mod:`.client` the command line's client (standard library only).

Nothing here imports the app or the command line (``.importlinter``).
"""
