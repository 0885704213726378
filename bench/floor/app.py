"""The cold-start floor of a function that reaches MongoDB: the hello app plus what every such function sets up.

Every function behind the API needs pymongo and Powertools Logger, Metrics and Tracer, and its Tracer
patches botocore and pymongo, so its import cannot be faster than this.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from fastapi import FastAPI
from mangum import Mangum
from pymongo import MongoClient

logger = Logger()
metrics = Metrics(namespace="Floor")
tracer = Tracer(patch_modules=("botocore", "pymongo"))
app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": MongoClient.__name__}


handler = Mangum(app, lifespan="off")
