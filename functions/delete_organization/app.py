"""Lambda function: delete organization (one FastAPI route behind API Gateway)."""

from aws_lambda_powertools import Logger
from orgservice.api.app import create_app, create_handler
from orgservice.api.routes.organizations import delete_router

logger = Logger()
app = create_app(delete_router, title="Delete organization")
handler = create_handler(app, logger)
