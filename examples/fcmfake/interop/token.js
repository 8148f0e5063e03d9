// Authorizes requests to the fake with Google's Node.js auth library.
// google-auth-library's service-account client always posts jwt-bearer grants
// to Google's own token URL (it ignores token_uri), so this uses its other
// standard mode: a self-signed JWT access token, which the fake accepts as
// Google APIs do.
const {GoogleAuth} = require('google-auth-library');
(async () => {
  const auth = new GoogleAuth({
    keyFile: process.argv[2],
    scopes: ['https://www.googleapis.com/auth/firebase.messaging'],
  });
  const client = await auth.getClient();
  client.useJWTAccessWithScope = true; // self-signed JWT with the scope
  const headers = await client.getRequestHeaders();
  const authz = headers.get ? headers.get('authorization') : headers.Authorization;
  process.stdout.write(JSON.stringify({authorization: authz, projectId: await auth.getProjectId()}));
})().catch(e => { console.error(e.message); process.exit(1); });
