/* The system libyaml's event parser behind a small interface of sepal's own (libyaml_events/system.rs):
 * Rust never sees libyaml's structures, whose layout differs between libyaml versions, only the
 * event below, whose data stays valid until the next call. `top_up` fills libyaml's input buffer
 * itself, as its reader (reader.c, unchanged in substance since 2014) does: the test that
 * compares this build's events with the translated libyaml's, over the corpus and with small
 * windows, is what would catch a libyaml whose reader keeps its buffer otherwise.
 *
 * Built by build.rs only where a static libyaml and its header are found. */
#include <stdint.h>
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
    /* The most bytes one top-up copies (see top_up), or 0 to let libyaml decode its input. */
    size_t window;
} sepal_yaml;

/* How many characters the `n` bytes of UTF-8 at `from` hold: the bytes that do not continue a
 * character (10xxxxxx), counted eight at a time (a byte at a time, this count was nine tenths
 * of the top-up's time). */
static size_t utf8_chars(const unsigned char *from, size_t n) {
    const uint64_t tops = 0x8080808080808080ull;
    size_t continuing = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, from + i, sizeof word);
        /* Each byte's top bit, where the bit below it (shifted up into its place) is clear;
         * the flags moved to each byte's lowest bit and summed into the top byte by one
         * multiplication (a population count without the instruction is a call to libgcc). */
        uint64_t flags = (word & tops & ~(word << 1)) >> 7;
        continuing += (size_t)((flags * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; i++) {
        continuing += (from[i] & 0xC0) == 0x80;
    }
    return n - continuing;
}

/* libyaml's reader decodes its input a character at a time into its 48 KiB working buffer,
 * checking each character: on a large output that was a quarter of the reading. For an input
 * it gives back unchanged (the caller checked: `reads_as_is` in mod.rs, UTF-8 without a byte
 * order mark at the start or a character libyaml refuses), the shim tops the working buffer up
 * itself before each event, with a copy of the input's next bytes, doing what
 * `yaml_parser_update_buffer` (reader.c) does for them: the unread characters moved to the
 * buffer's start, the bytes appended whole (cut between characters), `unread` counting their
 * characters, the string reader's position and the offset moved on, and at the end of the input
 * the end-of-file flag and the NUL the reader ends its buffer with. The scanner then finds the
 * characters it needs in the buffer and the reader's first test returns; what a top-up did not
 * bring (a token longer than the buffer) the reader decodes as usual, from the same position.
 * Nothing is done while the reader's raw buffer holds bytes it has not decoded (after a
 * character cut in two by its own reads): they come first. */
static void top_up(sepal_yaml *s) {
    /* Left free after the NUL: libyaml looks a few characters past it. */
    enum { PAD = 8 };
    yaml_parser_t *p = &s->parser;
    if (p->eof || p->raw_buffer.pointer != p->raw_buffer.last) {
        return;
    }
    size_t capacity = p->buffer.end - p->buffer.start;
    size_t held = p->buffer.last - p->buffer.pointer;
    if (held >= capacity / 2 || capacity <= held + PAD + 1) {
        return;
    }
    if (p->encoding == YAML_ANY_ENCODING) {
        /* What yaml_parser_determine_encoding finds in an input without a byte order mark. */
        p->encoding = YAML_UTF8_ENCODING;
    }
    memmove(p->buffer.start, p->buffer.pointer, held);
    p->buffer.pointer = p->buffer.start;
    p->buffer.last = p->buffer.start + held;
    const unsigned char *from = p->input.string.current;
    size_t left = p->input.string.end - from;
    size_t n = capacity - held - PAD - 1;
    if (n > s->window) {
        n = s->window;
    }
    if (n >= left) {
        n = left;
    } else {
        /* Not in the middle of a character. */
        while (n > 0 && (from[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    memcpy(p->buffer.last, from, n);
    p->buffer.last += n;
    p->unread += utf8_chars(from, n);
    p->offset += n;
    p->input.string.current = from + n;
    if (p->input.string.current == p->input.string.end) {
        p->eof = 1;
        *(p->buffer.last++) = '\0';
        p->unread++;
    }
}

/* A parser of `input`; `window` as in sepal_yaml: not 0 only for an input libyaml's reader gives
 * back unchanged (see top_up). */
sepal_yaml *sepal_yaml_new(const unsigned char *input, size_t length, size_t window) {
    sepal_yaml *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    if (!yaml_parser_initialize(&s->parser)) {
        free(s);
        return NULL;
    }
    yaml_parser_set_input_string(&s->parser, input, length);
    s->window = window;
    return s;
}

/* The event before this one is deleted first. Returns 1 with `out` filled in, or 0 on a parse
 * failure (then `sepal_yaml_problem` says what). */
int sepal_yaml_next(sepal_yaml *s, sepal_yaml_event *out) {
    if (s->has_event) {
        yaml_event_delete(&s->event);
        s->has_event = 0;
    }
    if (s->window > 0) {
        top_up(s);
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
