"""The ceiling: a bare FastAPI endpoint that echoes the JSON body it is sent (`uvicorn bench.echo_app:app`)."""

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
