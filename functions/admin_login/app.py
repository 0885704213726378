"""Lambda function: admin login (one FastAPI route behind API Gateway)."""

from aws_lambda_powertools import Logger
from orgservice.api.app import create_app, create_handler
from orgservice.api.routes.organizations import login_router

logger = Logger()
app = create_app(login_router, title="Admin login")
handler = create_handler(app, logger)
