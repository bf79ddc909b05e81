/*
 * textsearch: substring search through UTF-8 text that arrives in pieces,
 * as SEARCH needs it, under the i;unicode-casemap comparator of RFC 5051
 * (see unicase.h): "a" finds "A" and the A of "Ärger", "fi" finds the
 * ligature U+FB01.
 *
 * The needle is mapped once; the text is mapped one character at a time
 * as it streams past a Knuth-Morris-Pratt automaton over code points, so
 * the work is linear in the text, no text is buffered, and a match may
 * span any number of pieces (a piece may even end inside a character).
 *
 * A needle whose mapping is all ASCII (most searches) can also be looked
 * for straight in bytes, without decoding characters at all: in UTF-8, and
 * in the charsets where every byte below 0x80 is that ASCII character, a
 * run of ASCII characters is the same run of bytes.  Characters outside
 * ASCII that map to ASCII (accented Latin letters, ligatures, full-width
 * forms) can make a match the bytes do not show; textsearch_bytes() says
 * when the text has one and it cannot tell.
 */
#ifndef COMMON_TEXTSEARCH_H
#define COMMON_TEXTSEARCH_H

#include <stddef.h>
#include <stdint.h>

struct textsearch;

/* A search for needle (UTF-8, len bytes; invalid bytes stand for
 * U+FFFD).  NULL only when memory runs out. */
struct textsearch *textsearch_new(const char *needle, size_t len);
void	textsearch_free(struct textsearch *);

/* Start over with a new text (a new message, or another part). */
void	textsearch_reset(struct textsearch *);

/* Feed the next piece of text.  Returns 1 once the needle has been seen
 * since the last reset (and from then on), else 0.  An empty needle is
 * found at once. */
int	textsearch_feed(struct textsearch *, const char *text, size_t len);
int	textsearch_found(const struct textsearch *);

/* Whether the mapped needle is all ASCII, so that textsearch_bytes() may
 * be used; and its length in code points, mapped. */
int	textsearch_is_ascii(const struct textsearch *);
size_t	textsearch_length(const struct textsearch *);

/*
 * Look for an ASCII needle (textsearch_is_ascii()) in len bytes of text,
 * ASCII letters in either case, independently of textsearch_feed() and of
 * any earlier call.  1 found, 0 not found, TEXTSEARCH_UNSURE when the
 * needle is not there byte for byte but the text holds a character that
 * may map to part of it: in UTF-8 text (utf8 set) one outside ASCII that
 * maps to ASCII, in a single-byte charset any byte above 0x7f.  Only
 * textsearch_feed(), on the text decoded to UTF-8, can tell then.  The
 * search is linear in len, usually a fraction of a CPU cycle per byte.
 */
#define TEXTSEARCH_UNSURE	(-2)
int	textsearch_bytes(const struct textsearch *, const char *text,
	    size_t len, int utf8);

#endif
