#include "aws/awsxml.h"

#include <stdio.h>
#include <string.h>

#include <expat.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

/* The longest element path: AWSXML_MAX_DEPTH names of a sane length. */
#define PATH_MAX_BYTES 4096

/*
 * The walk's state.  The path of the open elements lives in one buffer;
 * mark[d] is its length before the name at depth d+1 was appended, so an
 * element's end cuts the path back without searching for '/'.
 */
struct walk {
    XML_Parser parser;
    const struct awsxml_handler *h;
    char path[PATH_MAX_BYTES];
    size_t path_len;
    size_t mark[AWSXML_MAX_DEPTH + 1];
    /* child[d]: the element open at depth d has a child element. */
    unsigned char child[AWSXML_MAX_DEPTH + 1];
    int depth;
    struct buf text; /* the text of the innermost open element so far */
    enum agent_rc stop_rc;
    const char *stop_why;
};

/* Stops the parser, remembering the first reason. */
static void
halt(struct walk *w, enum agent_rc rc, const char *why)
{
    if (w->stop_rc == AGENT_OK) {
        w->stop_rc = rc;
        w->stop_why = why;
    }
    XML_StopParser(w->parser, XML_FALSE);
}

/*
 * The parser is not namespace-aware, so a prefixed name arrives as
 * "prefix:local".  AWS documents put their namespace on the default xmlns
 * (no prefix), but the element names are matched without any prefix.
 */
static const char *
local_name(const XML_Char *name)
{
    const char *colon = strrchr(name, ':');

    return colon != NULL ? colon + 1 : name;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct walk *w = ud;
    const char *local = local_name(name);
    size_t n = strlen(local);
    size_t need = n + (w->depth > 0 ? 1 : 0);

    (void)attrs;
    /* expat may still deliver an event or two after XML_StopParser(). */
    if (w->stop_rc != AGENT_OK)
        return;
    if (w->depth >= AWSXML_MAX_DEPTH) {
        halt(w, AGENT_ERR_PARSE, "nesting too deep");
        return;
    }
    if (n == 0 || need >= sizeof(w->path) - w->path_len) {
        halt(w, AGENT_ERR_TOOBIG, "element path too long");
        return;
    }
    if (w->depth > 0)
        w->child[w->depth] = 1;
    w->mark[w->depth] = w->path_len;
    if (w->depth > 0)
        w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, local, n);
    w->path_len += n;
    w->path[w->path_len] = '\0';
    w->depth++;
    w->child[w->depth] = 0;
    /* Text before a child element belongs to mixed content, which AWS never sends. */
    buf_reset(&w->text);
    if (w->h->start != NULL && w->h->start(w->h->ctx, w->path) != 0)
        halt(w, AGENT_ERR_PARSE, "stopped by the reader");
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
    struct walk *w = ud;

    (void)name;
    if (w->stop_rc != AGENT_OK || w->depth <= 0)
        return;
    if (!w->child[w->depth] && w->h->leaf != NULL &&
        w->h->leaf(w->h->ctx, w->path, buf_cstr(&w->text)) != 0) {
        halt(w, AGENT_ERR_PARSE, "stopped by the reader");
        return;
    }
    buf_reset(&w->text);
    w->depth--;
    w->path_len = w->mark[w->depth];
    w->path[w->path_len] = '\0';
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
    struct walk *w = ud;
    enum agent_rc rc;

    /* Text outside the root or around child elements is not kept. */
    if (w->stop_rc != AGENT_OK || w->depth == 0 || w->child[w->depth] || len <= 0)
        return;
    rc = buf_append(&w->text, s, (size_t)len);
    if (rc != AGENT_OK)
        halt(w, rc, rc == AGENT_ERR_TOOBIG ? "element text too long" : "out of memory");
}

/*
 * A DTD is never part of an AWS reply.  Refusing it outright also rules out
 * entity expansion (billion laughs, external entities): with no DTD there
 * are no entities but the five predefined ones.
 */
static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    halt(ud, AGENT_ERR_PARSE, "DTD refused");
}

static void XMLCALL
on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
               const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
               const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    halt(ud, AGENT_ERR_PARSE, "entity declaration refused");
}

enum agent_rc
awsxml_walk(const char *xml, size_t len, const struct awsxml_handler *h)
{
    struct walk w;
    enum agent_rc rc = AGENT_ERR_PARSE;
    enum XML_Status st;

    if (xml == NULL || h == NULL)
        return AGENT_ERR_INVAL;
    if (len > AWSXML_MAX_BYTES) {
        log_debug("awsxml: document of %zu bytes over the %d byte cap", len, AWSXML_MAX_BYTES);
        return AGENT_ERR_TOOBIG;
    }
    memset(&w, 0, sizeof(w));
    w.h = h;
    buf_init(&w.text, AWSXML_MAX_TEXT);
    /* Not the NS parser: names keep their prefix, which local_name() drops. */
    w.parser = XML_ParserCreate(NULL);
    if (w.parser == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    XML_SetUserData(w.parser, &w);
    XML_SetElementHandler(w.parser, on_start, on_end);
    XML_SetCharacterDataHandler(w.parser, on_text);
    XML_SetStartDoctypeDeclHandler(w.parser, on_doctype);
    XML_SetEntityDeclHandler(w.parser, on_entity_decl);
    /* No external entity, even if a DTD slipped through (it cannot). */
    XML_SetParamEntityParsing(w.parser, XML_PARAM_ENTITY_PARSING_NEVER);

    st = XML_Parse(w.parser, xml, (int)len, XML_TRUE);
    if (w.stop_rc != AGENT_OK) {
        rc = w.stop_rc;
        log_debug("awsxml: %s", w.stop_why);
        goto out;
    }
    if (st != XML_STATUS_OK) {
        log_debug("awsxml: line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(w.parser),
                  XML_ErrorString(XML_GetErrorCode(w.parser)));
        rc = AGENT_ERR_PARSE;
        goto out;
    }
    rc = AGENT_OK;
out:
    if (w.parser != NULL)
        XML_ParserFree(w.parser);
    buf_cleanup(&w.text);
    return rc;
}

/* ---- error documents ---- */

/*
 * The three shapes: the Query protocol (<ErrorResponse><Error>...</Error>
 * <RequestId>, also with the <Error> inside <Errors>), EC2
 * (<Response><Errors><Error>...</Error></Errors> <RequestID>) and S3 (<Error>... with RequestId
 * inside).  Only the first <Error> of an EC2 list counts.
 */
struct err_ctx {
    struct aws_error e;
    int root;   /* 1 Query, 2 EC2, 3 S3, -1 something else */
    int errors; /* <Error> elements seen (EC2 lists) */
    int have_code;
    int bad;
};

static int
is_code_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == '#';
}

/* Codes are identifiers; anything else means this is not an AWS error document. */
static int
valid_code(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (!is_code_char(s[n]))
            return 0;
    }
    return n > 0 && n < sizeof(((struct aws_error *)NULL)->code);
}

/* Request ids: printable ASCII without spaces, short. */
static int
valid_request_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    }
    return n > 0 && n < sizeof(((struct aws_error *)NULL)->request_id);
}

/*
 * The message is for a log line: control bytes become spaces, and a message
 * longer than the field ends in "...".  It is diagnostic text, never a value
 * the agent acts on, so shortening it loses nothing that matters.
 */
static void
copy_message(char *dst, size_t cap, const char *src)
{
    size_t i, n = strlen(src);

    while (n > 0 &&
           (src[n - 1] == ' ' || src[n - 1] == '\n' || src[n - 1] == '\r' || src[n - 1] == '\t'))
        n--;
    while (n > 0 && (*src == ' ' || *src == '\n' || *src == '\r' || *src == '\t')) {
        src++;
        n--;
    }
    if (n >= cap) {
        n = cap - 4;
        memcpy(dst, src, n);
        memcpy(dst + n, "...", 4);
    } else {
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    for (i = 0; dst[i] != '\0'; i++) {
        if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
            dst[i] = ' ';
    }
}

void
awsxml_copy_message(char *dst, size_t cap, const char *src)
{
    if (dst == NULL || cap < 4)
        return;
    copy_message(dst, cap, src != NULL ? src : "");
}

static int
err_start(void *ctx, const char *path)
{
    struct err_ctx *c = ctx;

    if (c->root == 0) {
        if (strcmp(path, "ErrorResponse") == 0)
            c->root = 1;
        else if (strcmp(path, "Response") == 0)
            c->root = 2;
        else if (strcmp(path, "Error") == 0)
            c->root = 3;
        else
            c->root = -1;
        /* Not an error document: no need to read the rest. */
        return c->root == -1;
    }
    if (strcmp(path, "Response/Errors/Error") == 0 || strcmp(path, "ErrorResponse/Error") == 0 ||
        strcmp(path, "ErrorResponse/Errors/Error") == 0)
        c->errors++;
    return 0;
}

static int
err_leaf(void *ctx, const char *path, const char *text)
{
    struct err_ctx *c = ctx;
    const char *field = NULL;
    int in_error = 0;

    switch (c->root) {
    case 1:
        if (str_has_prefix(path, "ErrorResponse/Error/")) {
            field = path + strlen("ErrorResponse/Error/");
            in_error = c->errors == 1;
        } else if (str_has_prefix(path, "ErrorResponse/Errors/Error/")) {
            /* The list form, which botocore also reads (and moto sends for auth errors). */
            field = path + strlen("ErrorResponse/Errors/Error/");
            in_error = c->errors == 1;
        } else if (strcmp(path, "ErrorResponse/RequestId") == 0) {
            field = "RequestId";
            in_error = 1;
        }
        break;
    case 2:
        if (str_has_prefix(path, "Response/Errors/Error/")) {
            field = path + strlen("Response/Errors/Error/");
            in_error = c->errors == 1;
        } else if (strcmp(path, "Response/RequestID") == 0 ||
                   strcmp(path, "Response/RequestId") == 0) {
            field = "RequestId";
            in_error = 1;
        }
        break;
    case 3:
        if (str_has_prefix(path, "Error/")) {
            field = path + strlen("Error/");
            in_error = 1;
        }
        break;
    default:
        break;
    }
    if (field == NULL || !in_error)
        return 0;
    if (strcmp(field, "Code") == 0) {
        if (c->have_code)
            return 0;
        if (!valid_code(text)) {
            c->bad = 1;
            return 1;
        }
        memcpy(c->e.code, text, strlen(text) + 1);
        c->have_code = 1;
    } else if (strcmp(field, "Message") == 0) {
        if (c->e.message[0] == '\0')
            copy_message(c->e.message, sizeof(c->e.message), text);
    } else if (strcmp(field, "RequestId") == 0 || strcmp(field, "RequestID") == 0) {
        /* A malformed id is left out rather than refusing the whole error. */
        if (c->e.request_id[0] == '\0' && valid_request_id(text))
            memcpy(c->e.request_id, text, strlen(text) + 1);
    }
    return 0;
}

enum agent_rc
awsxml_parse_error(const char *xml, size_t len, struct aws_error *err)
{
    struct err_ctx c;
    struct awsxml_handler h;
    enum agent_rc rc;

    if (xml == NULL || err == NULL)
        return AGENT_ERR_INVAL;
    memset(&c, 0, sizeof(c));
    h.start = err_start;
    h.leaf = err_leaf;
    h.ctx = &c;
    rc = awsxml_walk(xml, len, &h);
    if (rc == AGENT_ERR_PARSE && (c.root == -1 || c.bad))
        return AGENT_ERR_PARSE;
    if (rc != AGENT_OK)
        return rc;
    if (c.root <= 0 || !c.have_code)
        return AGENT_ERR_PARSE;
    memcpy(err->code, c.e.code, sizeof(err->code));
    memcpy(err->message, c.e.message, sizeof(err->message));
    memcpy(err->request_id, c.e.request_id, sizeof(err->request_id));
    return AGENT_OK;
}

/* ---- reading a Query-protocol reply into typed structs ---- */

enum agent_rc
awsxml_take_text(char *dst, size_t cap, const char *text)
{
    size_t i, n;

    if (dst == NULL || text == NULL)
        return AGENT_ERR_INVAL;
    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    n = strlen(text);
    while (n > 0 && strchr(" \t\r\n", text[n - 1]) != NULL)
        n--;
    for (i = 0; i < n; i++) {
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
            return AGENT_ERR_PARSE;
    }
    return str_copyn(dst, cap, text, n);
}

/* 1 when s is non-empty printable ASCII without spaces. */
static int
is_token(const char *s)
{
    return s != NULL && *s != '\0' && str_is_graphic(s, strlen(s));
}

/* The root element of an AWS error document (Query protocol, EC2 or S3). */
static int
is_error_root(const char *path)
{
    return path != NULL && (strcmp(path, "ErrorResponse") == 0 || strcmp(path, "Error") == 0 ||
                            strcmp(path, "Response") == 0);
}

/* A name, element path or code from a reply, made safe for a log line (cut at cap). */
static void
safe_name(char *dst, size_t cap, const char *src)
{
    size_t i;

    if (dst == NULL || cap == 0)
        return;
    if (src == NULL)
        src = "";
    for (i = 0; i + 1 < cap && src[i] != '\0'; i++)
        dst[i] = (unsigned char)src[i] < 0x21 || (unsigned char)src[i] > 0x7e ? '?' : src[i];
    dst[i] = '\0';
}

/* Logs why an error document came back where a result was expected. */
static void
log_error_doc(const char *prefix, const char *action, const char *xml, size_t len)
{
    struct aws_error e;
    char code[sizeof(e.code)];

    memset(&e, 0, sizeof(e));
    if (awsxml_parse_error(xml, len, &e) == AGENT_OK && e.code[0] != '\0')
        safe_name(code, sizeof(code), e.code);
    else
        str_copy(code, sizeof(code), "(no code)");
    log_errx("%s: %s reply: AWS error document: %s", prefix, action, code);
}

int
awsxml_list_fail(struct awsxml_list *l, enum agent_rc rc, const char *why, const char *elem)
{
    l->rc = rc;
    l->why = why;
    safe_name(l->elem, sizeof(l->elem), elem);
    return 1;
}

int
awsxml_list_text(struct awsxml_list *l, unsigned bit, char *dst, size_t cap, const char *text,
                 const char *name, int token)
{
    enum agent_rc rc;

    if (l->have & bit)
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "repeated element", name);
    l->have |= bit;
    rc = awsxml_take_text(dst, cap, text);
    if (rc == AGENT_ERR_TOOBIG)
        return awsxml_list_fail(l, rc, "text over its cap in", name);
    if (rc != AGENT_OK)
        return awsxml_list_fail(l, rc, "control characters in", name);
    if (token && !is_token(dst))
        return awsxml_list_fail(l, AGENT_ERR_PARSE, "empty or spaced text in", name);
    return 0;
}

static int
list_finish_member(struct awsxml_list *l)
{
    l->in_member = 0;
    return l->finish != NULL ? l->finish(l) : 0;
}

static int
list_start(void *ctx, const char *path)
{
    struct awsxml_list *l = ctx;

    if (!l->root_seen) {
        l->root_seen = 1;
        if (strcmp(path, l->root) != 0)
            return awsxml_list_fail(l, is_error_root(path) ? AGENT_ERR_AWS : AGENT_ERR_PARSE,
                                    "unexpected root element", path);
        return 0;
    }
    if (l->member == NULL || strcmp(path, l->member) != 0)
        return 0;
    if (l->in_member && list_finish_member(l) != 0)
        return 1;
    if (l->cur != NULL)
        memset(l->cur, 0, l->cur_size);
    l->have = 0;
    l->in_member = 1;
    return 0;
}

static int
list_leaf(void *ctx, const char *path, const char *text)
{
    struct awsxml_list *l = ctx;
    size_t ml = strlen(l->member);

    if (!l->in_member || strncmp(path, l->member, ml) != 0 || path[ml] != '/')
        return 0;
    return l->field != NULL ? l->field(l, path + ml + 1, text) : 0;
}

/* The walk without its log line: awsxml_walk's code, the first failure in l->rc. */
static enum agent_rc
list_walk(struct awsxml_list *l, const char *xml, size_t len)
{
    struct awsxml_handler h;
    enum agent_rc rc;

    l->root_seen = 0;
    l->in_member = 0;
    l->have = 0;
    l->rc = AGENT_OK;
    l->why = "";
    l->elem[0] = '\0';
    h.start = list_start;
    h.leaf = l->member != NULL ? list_leaf : NULL;
    h.ctx = l;
    rc = awsxml_walk(xml, len, &h);
    if (rc == AGENT_OK && l->rc == AGENT_OK && l->in_member)
        list_finish_member(l);
    return rc;
}

/* Logs the outcome of list_walk() (walk_rc) and returns the code for it. */
static enum agent_rc
list_report(const struct awsxml_list *l, enum agent_rc walk_rc, const char *xml, size_t len)
{
    if (l->rc == AGENT_ERR_AWS) {
        log_error_doc(l->prefix, l->action, xml, len);
        return AGENT_ERR_AWS;
    }
    if (l->rc != AGENT_OK) {
        log_errx("%s: %s reply: %s %s", l->prefix, l->action, l->why, l->elem);
        return l->rc;
    }
    if (walk_rc != AGENT_OK || !l->root_seen) {
        log_errx("%s: %s reply: malformed XML (%s)", l->prefix, l->action, agent_rc_str(walk_rc));
        return walk_rc != AGENT_OK ? walk_rc : AGENT_ERR_PARSE;
    }
    return AGENT_OK;
}

enum agent_rc
awsxml_list_run(struct awsxml_list *l, const char *xml, size_t len)
{
    if (l == NULL || l->prefix == NULL || l->action == NULL || l->root == NULL)
        return AGENT_ERR_INVAL;
    return list_report(l, list_walk(l, xml, len), xml, len);
}

enum agent_rc
awsxml_parse_empty_reply(const char *prefix, const char *xml, size_t len, const char *action)
{
    struct awsxml_list l;
    char want[128];
    enum agent_rc rc;
    int n;

    if (prefix == NULL || action == NULL)
        return AGENT_ERR_INVAL;
    n = snprintf(want, sizeof(want), "%sResponse", action);
    if (n < 0 || (size_t)n >= sizeof(want))
        return AGENT_ERR_INVAL;
    memset(&l, 0, sizeof(l));
    l.prefix = prefix;
    l.action = action;
    l.root = want;
    rc = list_walk(&l, xml, len);
    /* With no member to read, the only failure of the walk itself is the root. */
    if (l.rc != AGENT_OK && l.rc != AGENT_ERR_AWS) {
        log_errx("%s: %s reply: root element %s, expected %s", prefix, action, l.elem, want);
        return l.rc;
    }
    return list_report(&l, rc, xml, len);
}

const char *
awsxml_library_version(void)
{
    return XML_ExpatVersion();
}
