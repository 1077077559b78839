/*
 * lua_pattern_cost.c: see lua_pattern_cost.h. The pattern is cut into items as Lua's
 * lstrlib reads it (single-character classes with their repetition, %b, %f, back
 * references, captures, a final $), then costed from the last item to the first.
 */
#include "transform/lua_pattern_cost.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COST_MAX 1e300

enum item_kind { IT_SINGLE, IT_BALANCE, IT_FRONTIER, IT_BACKREF, IT_CAPTURE, IT_END_ANCHOR };

struct item {
    enum item_kind kind;
    char rep;        /* IT_SINGLE: 0, '*', '+', '-' or '?' */
    bool any;        /* IT_SINGLE: '.' */
    uint8_t set[32]; /* IT_SINGLE: the bytes it matches */
};

static bool class_has(int c, int cl)
{
    bool r;

    switch (tolower(cl)) {
    case 'a':
        r = isalpha(c);
        break;
    case 'c':
        r = iscntrl(c);
        break;
    case 'd':
        r = isdigit(c);
        break;
    case 'g':
        r = isgraph(c);
        break;
    case 'l':
        r = islower(c);
        break;
    case 'p':
        r = ispunct(c);
        break;
    case 's':
        r = isspace(c);
        break;
    case 'u':
        r = isupper(c);
        break;
    case 'w':
        r = isalnum(c);
        break;
    case 'x':
        r = isxdigit(c);
        break;
    default:
        return cl == c;
    }
    return isupper(cl) ? !r : r;
}

static void set_add(uint8_t *set, int c)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* "[...]" from p (at '['); returns the index after ']' or 0 when malformed. */
static size_t read_set(const char *p, size_t i, size_t end, uint8_t *set)
{
    size_t start, close;
    bool neg = false;

    i++;
    if (i < end && p[i] == '^') {
        neg = true;
        i++;
    }
    start = i;
    /* as lstrlib's classEnd: the first character is taken whatever it is */
    do {
        if (i >= end)
            return 0;
        if (p[i++] == '%' && i < end)
            i++;
    } while (i >= end || p[i] != ']');
    close = i;
    for (int c = 0; c < 256; c++) {
        bool in = false;

        for (size_t k = start; k < close && !in; k++) {
            if (p[k] == '%' && k + 1 < close) {
                in = class_has(c, (unsigned char)p[++k]);
            } else if (k + 2 < close && p[k + 1] == '-') {
                in = (unsigned char)p[k] <= c && c <= (unsigned char)p[k + 2];
                k += 2;
            } else {
                in = (unsigned char)p[k] == c;
            }
        }
        if (in != neg)
            set_add(set, c);
    }
    return close + 1;
}

/* One single-character class at p[i]; returns the index after it, 0 when malformed. */
static size_t read_single(const char *p, size_t i, size_t end, struct item *it)
{
    memset(it->set, 0, sizeof it->set);
    it->kind = IT_SINGLE;
    it->any = false;
    if (p[i] == '.') {
        it->any = true;
        memset(it->set, 0xff, sizeof it->set);
        return i + 1;
    }
    if (p[i] == '[')
        return read_set(p, i, end, it->set);
    if (p[i] == '%') {
        if (i + 1 >= end)
            return 0;
        for (int c = 0; c < 256; c++)
            if (class_has(c, (unsigned char)p[i + 1]))
                set_add(it->set, c);
        return i + 2;
    }
    set_add(it->set, (unsigned char)p[i]);
    return i + 1;
}

/* Cuts the pattern into items; -1 when malformed. */
static long parse(const char *p, size_t end, struct item *items)
{
    size_t i = 0;
    long n = 0;

    while (i < end) {
        struct item *it = &items[n++];
        char c = p[i];

        memset(it, 0, sizeof *it);
        if (c == '(' || c == ')') {
            it->kind = IT_CAPTURE;
            i += (c == '(' && i + 1 < end && p[i + 1] == ')') ? 2 : 1;
        } else if (c == '$' && i + 1 == end) {
            it->kind = IT_END_ANCHOR;
            i++;
        } else if (c == '%' && i + 1 < end && p[i + 1] == 'b') {
            if (i + 3 >= end)
                return -1;
            it->kind = IT_BALANCE;
            i += 4;
        } else if (c == '%' && i + 1 < end && p[i + 1] == 'f') {
            struct item tmp = {0};

            it->kind = IT_FRONTIER;
            if (i + 2 >= end || p[i + 2] != '[')
                return -1;
            i = read_set(p, i + 2, end, tmp.set);
            if (i == 0)
                return -1;
        } else if (c == '%' && i + 1 < end && isdigit((unsigned char)p[i + 1])) {
            it->kind = IT_BACKREF;
            i += 2;
        } else {
            i = read_single(p, i, end, it);
            if (i == 0)
                return -1;
            if (i < end && strchr("*+-?", p[i]) && p[i] != '\0')
                it->rep = p[i++];
        }
    }
    return n;
}

static bool disjoint(const struct item *a, const struct item *b)
{
    for (size_t k = 0; k < sizeof a->set; k++)
        if (a->set[k] & b->set[k])
            return false;
    return true;
}

/* The item after i that must match one character first, skipping captures; NULL if none. */
static const struct item *next_mandatory(const struct item *items, long i, long count)
{
    for (long j = i + 1; j < count; j++) {
        if (items[j].kind == IT_CAPTURE)
            continue;
        if (items[j].kind == IT_SINGLE && (items[j].rep == 0 || items[j].rep == '+'))
            return &items[j];
        return NULL;
    }
    return NULL;
}

static double add(double a, double b)
{
    return a + b > COST_MAX ? COST_MAX : a + b;
}

static double mul(double a, double b)
{
    return a * b > COST_MAX ? COST_MAX : a * b;
}

double lua_pattern_cost(const char *p, size_t plen, size_t n, enum lua_pattern_call call)
{
    double len = n ? (double)n : 1.0, w = 1.0, cost;
    bool anchored = false, always = true, at_end = true;
    struct item *items;
    long count;

    if (call != LPC_GMATCH && plen > 0 && p[0] == '^') {
        anchored = true;
        p++;
        plen--;
    }
    items = calloc(plen + 1, sizeof *items);
    if (!items)
        return COST_MAX;
    count = parse(p, plen, items);
    if (count < 0) {
        free(items);
        return 0;
    }
    /* w: worst cost of items[i..]; always: they match from any position; at_end: they
     * match the empty rest of the subject. */
    for (long i = count - 1; i >= 0; i--) {
        const struct item *it = &items[i];
        const struct item *nx;
        bool cheap;

        switch (it->kind) {
        case IT_CAPTURE:
            break;
        case IT_END_ANCHOR:
            w = 1;
            always = false;
            at_end = true;
            break;
        case IT_BALANCE:
        case IT_BACKREF:
            w = add(len, w);
            always = at_end = false;
            break;
        case IT_FRONTIER:
            w = add(1, w);
            always = at_end = false;
            break;
        case IT_SINGLE:
            nx = next_mandatory(items, i, count);
            cheap = always || (nx && disjoint(it, nx));
            if (it->rep == 0) {
                w = add(1, w);
                always = at_end = false;
            } else if (it->rep == '?') {
                w = always ? add(1, w) : add(1, mul(2, w));
            } else {
                w = cheap ? add(len, w) : add(len, mul(len, add(w, 1)));
                if (it->rep == '+')
                    always = at_end = false;
                else
                    always = always || (it->any && at_end);
            }
            break;
        }
    }
    free(items);
    if (anchored)
        cost = w;
    else if (call == LPC_GMATCH || call == LPC_GSUB)
        cost = mul(len + 1, w);
    else
        cost = always ? w : mul(len + 1, w);
    return cost;
}
