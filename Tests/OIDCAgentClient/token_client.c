/* A program on Debian's liboidc-agent (its public API, 4.2.6), as third-party tools use it.
 * usage: token_client account NAME [MIN_VALID] | issuer URL [MIN_VALID]
 * Prints "token=… issuer=… expires_at=…" or "error=… help=…" (exit 1). */
#include <oidc-agent/api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s account NAME [MIN_VALID] | issuer URL [MIN_VALID]\n", argv[0]);
        return 2;
    }
    time_t min_valid = argc > 3 ? atol(argv[3]) : 60;
    struct agent_response response =
        strcmp(argv[1], "issuer") == 0
            ? getAgentTokenResponseForIssuer(argv[2], min_valid, NULL, "token_client", NULL)
            : getAgentTokenResponse(argv[2], min_valid, NULL, "token_client", NULL);
    int status = 0;
    if (response.type == AGENT_RESPONSE_TYPE_TOKEN) {
        printf("token=%s issuer=%s expires_at=%ld\n", response.token_response.token,
               response.token_response.issuer, (long)response.token_response.expires_at);
    } else {
        printf("error=%s help=%s\n", response.error_response.error ? response.error_response.error : "",
               response.error_response.help ? response.error_response.help : "");
        status = 1;
    }
    secFreeAgentResponse(response);
    return status;
}
