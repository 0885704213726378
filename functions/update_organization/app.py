"""Lambda function: update organization (one FastAPI route behind API Gateway)."""

from aws_lambda_powertools import Logger
from orgservice.api.app import create_app, create_handler
from orgservice.api.routes.organizations import update_router

logger = Logger()
app = create_app(update_router, title="Update organization")
handler = create_handler(app, logger)
