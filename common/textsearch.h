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

/* The simple case folding of one code point. */
uint32_t textsearch_fold(uint32_t cp);

#endif
