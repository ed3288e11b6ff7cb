"""``deepaid serve``: the explain job's records over HTTP, for alert pipelines (FastAPI + uvicorn).

``engine.ServeModel`` builds the interpreter exactly as ``deepaid explain`` does and turns alerts into the
job's records; ``batching.Batcher`` gathers concurrent requests into one interpreter call on one worker
thread; ``app.make_app`` has the routes; ``command`` the sub-command.
"""
