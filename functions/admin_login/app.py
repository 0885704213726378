"""Lambda function: admin login (one FastAPI route behind API Gateway)."""

from aws_lambda_powertools import Logger
from orgservice.api.app import create_app, create_handler
from orgservice.api.routes.organizations import login_router

# Login signs tokens. The service imports PyJWT only when it issues one, so the functions that never
# do start without it. Importing it here keeps that work in this function's init, not its first request.
import orgservice.core.tokens  # noqa: F401

logger = Logger()
app = create_app(login_router, title="Admin login")
handler = create_handler(app, logger)
