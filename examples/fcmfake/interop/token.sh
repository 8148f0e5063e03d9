#!/usr/bin/env bash
# jwt-bearer grant by hand (openssl + curl): sign an RS256 assertion with the
# service-account key and post it to the file's token_uri.
# Usage: token.sh SERVICE_ACCOUNT_JSON   (prints the token endpoint's answer)
set -euo pipefail
SA=$1
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
EMAIL=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["client_email"])' "$SA")
KID=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["private_key_id"])' "$SA")
URI=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["token_uri"])' "$SA")
KEY=$(mktemp)
trap 'rm -f "$KEY"' EXIT
python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["private_key"],end="")' "$SA" > "$KEY"
NOW=$(date +%s)
H=$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$KID" | b64)
C=$(printf '{"iss":"%s","scope":"https://www.googleapis.com/auth/firebase.messaging","aud":"%s","iat":%d,"exp":%d}' "$EMAIL" "$URI" "$NOW" "$((NOW+3600))" | b64)
S=$(printf '%s.%s' "$H" "$C" | openssl dgst -sha256 -sign "$KEY" -binary | b64)
curl -sS "$URI" --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer' --data-urlencode "assertion=$H.$C.$S"
