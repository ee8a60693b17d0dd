// Resolves credentials with the AWS SDK for JavaScript v3 the way an application would, from the
// environment alone, then signs STS GetCallerIdentity with them against the emulator.
//
//     node credentials.mjs PROVIDER    (PROVIDER: http | chain | imds | process)
//
// Environment: what the provider reads (AWS_CONTAINER_CREDENTIALS_FULL_URI,
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, AWS_EC2_METADATA_SERVICE_ENDPOINT, ...) and EMULATOR,
// the STS endpoint. Prints one JSON line: the credentials and the caller's ARN; on failure, the
// error's name, message, Code and Message as JSON on stdout and exit status 1.
import { fromHttp, fromInstanceMetadata, fromNodeProviderChain, fromProcess } from "@aws-sdk/credential-providers";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const providers = {
  http: () => fromHttp({}),
  chain: () => fromNodeProviderChain({}),
  imds: () => fromInstanceMetadata({ maxRetries: 0, timeout: 3000 }),
  // credential_process of the profile PROFILE in AWS_CONFIG_FILE.
  process: () => fromProcess({ profile: process.env.PROFILE }),
};

try {
  const provider = providers[process.argv[2]]();
  const c = await provider();
  const sts = new STSClient({ region: "us-east-1", endpoint: process.env.EMULATOR, credentials: c });
  const who = await sts.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    SessionToken: c.sessionToken,
    Expiration: c.expiration?.toISOString(),
    AccountId: c.accountId ?? null,
    Arn: who.Arn,
  }));
} catch (e) {
  // Code and Message: what the container provider copies from the server's error body.
  console.log(JSON.stringify({ error: e.name, message: String(e.message), Code: e.Code ?? null, Message: e.Message ?? null }));
  process.exit(1);
}
