/*
 * awsxml: XML replies of the AWS Query protocol and S3, parsed with expat.
 *
 * The tree never leaves the parser: the caller receives events with the
 * element path (local names without namespace prefixes, joined with '/',
 * e.g. "DescribeTargetHealthResponse/DescribeTargetHealthResult/
 * TargetHealthDescriptions/member/TargetHealth/State") and fills its own
 * typed structs.  Documents are capped (AWSXML_MAX_BYTES), nesting is capped
 * (AWSXML_MAX_DEPTH), DTDs and entity declarations are refused.
 */
#ifndef AGENT_AWS_AWSXML_H
#define AGENT_AWS_AWSXML_H

#include <stddef.h>

#include "core/rc.h"

#define AWSXML_MAX_BYTES (1024 * 1024)
#define AWSXML_MAX_DEPTH 32
#define AWSXML_MAX_TEXT  (64 * 1024)

/* An AWS error, from any protocol (awsapi fills it; awsxml parses XML ones). */
struct aws_error {
    long http_status;
    char code[64];
    char message[256];
    char request_id[64];
};

struct awsxml_handler {
    /* Called when an element opens; may be NULL.  Return non-zero to abort. */
    int (*start)(void *ctx, const char *path);
    /* Called when an element with no child elements closes, with its text. */
    int (*leaf)(void *ctx, const char *path, const char *text);
    void *ctx;
};

/*
 * Parses len bytes of XML, calling h (borrowed).  Element names are matched
 * without their namespace prefix ("ns:Code" is "Code"); attributes are
 * ignored; the text of an element with child elements is dropped.  A leaf's
 * text is passed as received (entities decoded, not trimmed).
 * AGENT_ERR_PARSE for malformed XML, a DTD or entity declaration, nesting
 * deeper than AWSXML_MAX_DEPTH or a handler abort; AGENT_ERR_TOOBIG over
 * AWSXML_MAX_BYTES, AWSXML_MAX_TEXT of text in one element or a path over
 * 4 KiB; AGENT_ERR_INVAL for NULL arguments; AGENT_ERR_NOMEM.  Reasons are
 * logged at debug level only (the caller names the document).
 */
enum agent_rc awsxml_walk(const char *xml, size_t len, const struct awsxml_handler *h);

/*
 * Reads an error document: <ErrorResponse><Error><Code>, <Message> and
 * <RequestId> (Query protocol; <ErrorResponse><Errors><Error>... is read
 * too), <Response><Errors><Error>... <RequestID>
 * (EC2 style: the first <Error> counts), or <Error><Code>... (S3), into err
 * (http_status untouched; only code, message and request_id are written,
 * and only on success).  The code must be an identifier (letters, digits,
 * . _ - : #) shorter than the field; the message is trimmed, its control
 * bytes turned into spaces and, when too long, cut with "..."; a malformed
 * request id is left empty.  AGENT_ERR_PARSE when it is not such a document
 * or has no valid Code; the codes of awsxml_walk otherwise.
 */
enum agent_rc awsxml_parse_error(const char *xml, size_t len, struct aws_error *err);

/*
 * Copies the diagnostic text src (NULL is "") into dst[cap] as
 * awsxml_parse_error does for messages: trimmed, control bytes made spaces,
 * cut with "..." when it does not fit.  cap must be at least 4.
 */
void awsxml_copy_message(char *dst, size_t cap, const char *src);

/* expat's version string ("expat_2.5.0"), for `version`. */
const char *awsxml_library_version(void);

#endif
