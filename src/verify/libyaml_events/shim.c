/* The system libyaml's event parser behind a small interface of sepal's own (libyaml_events/system.rs):
 * Rust never sees libyaml's structures, whose layout differs between libyaml versions, only the
 * event below, whose data stays valid until the next call.
 *
 * Built by build.rs only where a static libyaml and its header are found. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* What Rust reads of one event (system.rs declares the same layout). */
typedef struct {
    int kind;               /* SEPAL_* below */
    const unsigned char *value;
    size_t length;          /* of value */
    const unsigned char *anchor; /* NUL-terminated, or null */
    int plain;              /* a scalar written without quotes or block indicator */
    size_t line;            /* 0-based, where the event starts */
} sepal_yaml_event;

/* Event kinds, numbered by sepal (libyaml's own numbering is not part of its interface). */
enum {
    SEPAL_OTHER = 0,
    SEPAL_DOCUMENT_START = 1,
    SEPAL_DOCUMENT_END = 2,
    SEPAL_MAPPING_START = 3,
    SEPAL_SEQUENCE_START = 4,
    SEPAL_COLLECTION_END = 5,
    SEPAL_SCALAR = 6,
    SEPAL_ALIAS = 7,
    SEPAL_STREAM_END = 8
};

typedef struct {
    yaml_parser_t parser;
    yaml_event_t event;
    int has_event;
} sepal_yaml;

sepal_yaml *sepal_yaml_new(const unsigned char *input, size_t length) {
    sepal_yaml *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    if (!yaml_parser_initialize(&s->parser)) {
        free(s);
        return NULL;
    }
    yaml_parser_set_input_string(&s->parser, input, length);
    return s;
}

/* The event before this one is deleted first. Returns 1 with `out` filled in, or 0 on a parse
 * failure (then `sepal_yaml_problem` says what). */
int sepal_yaml_next(sepal_yaml *s, sepal_yaml_event *out) {
    if (s->has_event) {
        yaml_event_delete(&s->event);
        s->has_event = 0;
    }
    if (!yaml_parser_parse(&s->parser, &s->event)) {
        return 0;
    }
    s->has_event = 1;
    const yaml_event_t *e = &s->event;
    memset(out, 0, sizeof *out);
    out->kind = SEPAL_OTHER;
    out->line = e->start_mark.line;
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        out->kind = SEPAL_DOCUMENT_START;
        break;
    case YAML_DOCUMENT_END_EVENT:
        out->kind = SEPAL_DOCUMENT_END;
        break;
    case YAML_MAPPING_START_EVENT:
        out->kind = SEPAL_MAPPING_START;
        out->anchor = e->data.mapping_start.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        out->kind = SEPAL_SEQUENCE_START;
        out->anchor = e->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        out->kind = SEPAL_COLLECTION_END;
        break;
    case YAML_STREAM_END_EVENT:
        out->kind = SEPAL_STREAM_END;
        break;
    case YAML_SCALAR_EVENT:
        out->kind = SEPAL_SCALAR;
        out->value = e->data.scalar.value;
        out->length = e->data.scalar.length;
        out->anchor = e->data.scalar.anchor;
        out->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        break;
    case YAML_ALIAS_EVENT:
        out->kind = SEPAL_ALIAS;
        out->anchor = e->data.alias.anchor;
        break;
    default:
        break;
    }
    return 1;
}

/* libyaml's description of the last failure (a static string, or null) and its line, 0-based. */
void sepal_yaml_problem(const sepal_yaml *s, const char **problem, size_t *line) {
    *problem = s->parser.problem;
    *line = s->parser.problem_mark.line;
}

void sepal_yaml_free(sepal_yaml *s) {
    if (s == NULL) {
        return;
    }
    if (s->has_event) {
        yaml_event_delete(&s->event);
    }
    yaml_parser_delete(&s->parser);
    free(s);
}
