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

/* ---- reading a Query-protocol reply into typed structs ---- */

/*
 * Copies an XML text into dst[cap] without its surrounding whitespace
 * (space, tab, CR, LF).  Control characters are refused (the texts end up in
 * log lines), and a text over the cap is refused rather than cut.  AGENT_OK;
 * AGENT_ERR_PARSE for a control character; AGENT_ERR_TOOBIG when it does not
 * fit; AGENT_ERR_INVAL for NULL arguments.  dst may be written on failure.
 */
enum agent_rc awsxml_take_text(char *dst, size_t cap, const char *text);

#define AWSXML_ELEM_MAX 64

/*
 * A walk over the members of one list of a reply ("<Action>Response/
 * <Action>Result/Things/member"), each member finished when the next opens or
 * the document ends.  The caller zeroes the struct and fills the first
 * block; awsxml_list_run() keeps the second, which the callbacks read
 * (have, cur) and write through awsxml_list_fail() and awsxml_list_text().
 */
struct awsxml_list {
    const char *prefix; /* module name that starts the log lines, e.g. "elbv2" */
    const char *action; /* the call, e.g. "DescribeTargetHealth" */
    const char *root;   /* the root element expected */
    const char *member; /* path of a list member; NULL when only the root counts */
    void *cur;          /* the caller's staging copy of a member, zeroed as each opens */
    size_t cur_size;
    /* A leaf below a member; sub is its path below the member.  Non-zero aborts. */
    int (*field)(struct awsxml_list *l, const char *sub, const char *text);
    /* A member is complete.  Non-zero aborts (after awsxml_list_fail). */
    int (*finish)(struct awsxml_list *l);
    void *user; /* for the callbacks */

    int root_seen;
    int in_member;
    unsigned have;              /* the callbacks' bits for the fields of cur seen so far */
    enum agent_rc rc;           /* the first failure, AGENT_OK until then */
    const char *why;            /* static text for the log line */
    char elem[AWSXML_ELEM_MAX]; /* the element concerned, made safe */
};

/* Records a failure: rc, why (static text) and elem (made safe); returns 1, to abort the walk. */
int awsxml_list_fail(struct awsxml_list *l, enum agent_rc rc, const char *why, const char *elem);

/*
 * Stores the text of the field name of the current member into dst[cap]
 * with awsxml_take_text().  bit (one of l->have) marks the field seen, so a
 * repeat is refused; token also requires non-empty visible ASCII without
 * spaces.  Returns 0, or 1 after awsxml_list_fail() with "repeated element",
 * "text over its cap in", "control characters in" or "empty or spaced text
 * in".
 */
int awsxml_list_text(struct awsxml_list *l, unsigned bit, char *dst, size_t cap, const char *text,
                     const char *name, int token);

/*
 * Walks the reply xml[len] with l (set up as above).  The first element
 * must be l->root: an AWS error document there gives AGENT_ERR_AWS, anything
 * else AGENT_ERR_PARSE.  Logs one line on failure: "<prefix>: <action>
 * reply: <why> <elem>", "... AWS error document: <code>" (the document's
 * code, "(no code)" when it has none) or "... malformed XML (<rc>)"; texts
 * from the reply are made safe (bytes outside visible ASCII become '?').
 * AGENT_OK when the document was read whole; otherwise the failure's code
 * (AGENT_ERR_PARSE, AGENT_ERR_TOOBIG, AGENT_ERR_AWS, ...) or awsxml_walk()'s;
 * AGENT_ERR_INVAL when l, its prefix, action or root is NULL.
 */
enum agent_rc awsxml_list_run(struct awsxml_list *l, const char *xml, size_t len);

/*
 * Pure check of a reply with an empty result: well-formed XML whose root
 * element is "<action>Response".  AGENT_OK; AGENT_ERR_AWS for an AWS error
 * document; AGENT_ERR_INVAL for a NULL prefix or action, or a root name
 * over 127 bytes;
 * AGENT_ERR_PARSE (or awsxml_walk's codes) otherwise.  Failures are logged
 * with prefix: "<prefix>: <action> reply: root element <X>, expected <Y>",
 * "... AWS error document: <code>" or "... malformed XML (<rc>)".
 */
enum agent_rc awsxml_parse_empty_reply(const char *prefix, const char *xml, size_t len,
                                       const char *action);

/* expat's version string ("expat_2.5.0"), for `version`. */
const char *awsxml_library_version(void);

#endif
