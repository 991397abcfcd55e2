"""trainset's Python SDK. It speaks HTTP only and never imports server code.

from trainset.client import Client
with Client("http://127.0.0.1:8000", token) as c:
    ds = c.create_dataset("my_dog")
    c.upload(ds.id, "dog_01.jpg")
    c.upload(ds.id, "dog_01.txt")
    print(c.wait(ds.id).status)
"""

from trainset.client import errors, models
from trainset.client._spec import Source, Stream
from trainset.client.aio import AsyncClient
from trainset.client.sync import Client

__all__ = ["AsyncClient", "Client", "Source", "Stream", "errors", "models"]
