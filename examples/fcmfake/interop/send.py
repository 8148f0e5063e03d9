#!/usr/bin/python3
"""Sends one message to the fake with Google's Python auth library.

google-auth honours the service-account file's token_uri, so the access
token comes from the fake's token endpoint (jwt-bearer grant).
Usage: send.py SERVICE_ACCOUNT_JSON ENDPOINT   (e.g. http://127.0.0.1:8085)
"""
import json
import sys

from google.oauth2 import service_account
from google.auth.transport.requests import AuthorizedSession

creds = service_account.Credentials.from_service_account_file(
    sys.argv[1], scopes=["https://www.googleapis.com/auth/firebase.messaging"])
session = AuthorizedSession(creds)
project = json.load(open(sys.argv[1]))["project_id"]
resp = session.post(
    "%s/v1/projects/%s/messages:send" % (sys.argv[2], project),
    json={"message": {"token": "python-device-1", "data": {"via": "google-auth"}}})
print(resp.status_code, resp.text)
