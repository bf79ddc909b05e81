/*
 * textsearch: case-insensitive substring search through UTF-8 text that
 * arrives in pieces, as SEARCH needs it.
 *
 * The needle is case-folded once; the text is folded one character at a
 * time as it streams past a Knuth-Morris-Pratt automaton over code points,
 * so the work is linear in the text, no text is buffered, and a match may
 * span any number of pieces (a piece may even end inside a character).
 *
 * Case folding is Unicode simple case folding (C + S of CaseFolding.txt)
 * for the scripts mail is mostly written in: ASCII, Latin-1, Latin
 * Extended-A, the regular pairs of Latin Extended-B and Latin Extended
 * Additional, Greek (final sigma folds to sigma, and Greek Extended's
 * regular blocks), Cyrillic, Armenian, letter-like symbols (Kelvin, Ohm,
 * Angstrom), Roman numerals, circled and full-width Latin letters.  It is
 * a table in code rather than towlower(), so results do not depend on the
 * locales installed.  There is no normalization: a precomposed letter does
 * not match a base letter plus a combining mark.
 *
 * A needle whose folding is all ASCII (most searches) can also be looked
 * for straight in bytes, without decoding characters at all: in UTF-8, and
 * in the charsets where every byte below 0x80 is that ASCII character and
 * every other byte a character outside ASCII, a run of ASCII characters
 * is the same run of bytes.  The only characters outside ASCII that fold
 * into it are U+0130 (to i), U+017F (to s) and U+212A KELVIN SIGN (to k);
 * textsearch_bytes() notices their UTF-8 forms and says when it cannot
 * tell, and none of the single-byte charsets it is used for has them
 * (see charset_ascii_bytes()).
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

/* Whether the folded needle is all ASCII, so that textsearch_bytes() may
 * be used; and its length in characters. */
int	textsearch_is_ascii(const struct textsearch *);
size_t	textsearch_length(const struct textsearch *);

/*
 * Look for an ASCII needle (textsearch_is_ascii()) in len bytes of text,
 * ASCII letters in either case, independently of textsearch_feed() and of
 * any earlier call.  1 found, 0 not found, TEXTSEARCH_UNSURE when the
 * text is UTF-8 (utf8 set) and holds a character outside ASCII that folds
 * to a letter of the needle: only textsearch_feed() can tell then.  The
 * work is linear in len, usually a fraction of a CPU cycle per byte.
 */
#define TEXTSEARCH_UNSURE	(-2)
int	textsearch_bytes(const struct textsearch *, const char *text,
	    size_t len, int utf8);

/* The simple case folding of one code point. */
uint32_t textsearch_fold(uint32_t cp);

#endif
