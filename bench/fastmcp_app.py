"""FastMCP mounted in FastAPI as the seed article does, with the same two tools.

Run by bench/run.sh: uvicorn fastmcp_app:app --port PORT (stateless JSON answers, so it is
compared like for like with the other stateless servers).
"""

from fastapi import FastAPI
from fastmcp import FastMCP

mcp = FastMCP("Bench")


@mcp.tool
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@mcp.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


mcp_app = mcp.http_app(path="/", stateless_http=True, json_response=True)
app = FastAPI(lifespan=mcp_app.lifespan)
app.mount("/mcp", mcp_app)
