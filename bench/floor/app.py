"""The cold-start floor of a function that reaches MongoDB: the hello app plus the driver and the logger.

Every function behind the API needs pymongo and Powertools Logger, so its import cannot be faster than this.
"""

from aws_lambda_powertools import Logger
from fastapi import FastAPI
from mangum import Mangum
from pymongo import MongoClient

logger = Logger()
app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": MongoClient.__name__}


handler = Mangum(app, lifespan="off")
