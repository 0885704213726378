"""Lambda function: get organization (one FastAPI route behind API Gateway)."""

from aws_lambda_powertools import Logger
from orgservice.api.app import create_app, create_handler
from orgservice.api.routes.organizations import get_router

logger = Logger()
app = create_app(get_router, title="Get organization")
handler = create_handler(app, logger)
