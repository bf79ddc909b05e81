/* The release this tree builds. */
#ifndef IMAPD_VERSION_H
#define IMAPD_VERSION_H

#define IMAPD_VERSION	"0.1.0"

#endif
