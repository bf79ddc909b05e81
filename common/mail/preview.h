/*
 * preview: the short displayable text of a message that FETCH PREVIEW
 * (RFC 8970) returns, so that a client can show the start of each message
 * in a list without downloading it.
 *
 * Which text: the first text/plain part that is not an attachment; when
 * there is none (or it has no text), the first text/html part that is not
 * one.  Other parts, attachments and what is inside attachments give no
 * text.  A message encapsulated without being an attachment (an inline
 * forward) is looked into only when the message has no such part of its
 * own.  A part's body is transfer-decoded (quoted-printable, base64) and
 * converted from its charset to UTF-8 as SEARCH reads it (an unknown
 * charset is read as UTF-8; bytes that are not valid become U+FFFD).
 *
 * What is kept of it:
 *   - plain text: lines that start with ">" (quoted from another message,
 *     RFC 3676) are left out, and the text ends at a signature separator
 *     line ("-- ", or "--" alone);
 *   - HTML: tags and comments are dropped, and so is what is inside head,
 *     title, script and style elements and inside blockquote (a quoted
 *     message, nested to any depth); character references (named ones of
 *     the common set, numeric ones) are decoded; tags other than inline
 *     ones (b, i, span, a, font, ...) separate words;
 *   - in both, control characters and every run of white space (line
 *     ends included) become one space, invisible format characters
 *     (zero-width joiners and spaces, soft hyphens, byte order marks) are
 *     dropped, and there is no space at either end.
 * The result is at most PREVIEW_CHARS characters (code points, never a
 * part of one) of valid UTF-8 with no control character.  Header fields
 * (Subject) are never used: clients show them already.
 *
 * The work is bounded: at most PREVIEW_READ_MAX bytes of a part's body are
 * decoded, and decoding stops as soon as the preview is full.
 */
#ifndef COMMON_PREVIEW_H
#define COMMON_PREVIEW_H

#include <stddef.h>

#include "common/lib/buf.h"
#include "common/mail/mime.h"

#define PREVIEW_CHARS		200
#define PREVIEW_READ_MAX	((size_t)1024 * 1024)

/* Append the preview of the message parsed as root to out: empty when the
 * message has no displayable text.  0, or -1 when out is full or memory
 * runs out. */
int	preview_make(const struct mime_part *root, struct buf *out);

/* Append the preview of a text/plain (html 0) or text/html (html 1) body
 * of len bytes, already decoded to UTF-8.  0 or -1 as above. */
int	preview_text(const char *utf8, size_t len, int html, struct buf *out);

#endif
