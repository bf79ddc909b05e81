#!/usr/bin/python3
"""mkmaildir: a deterministic, realistic Maildir++ (or mbox) generator.

Used by the imapd test suite and benchmark to get mail that looks like a
real user's mailbox, reproducibly: the same arguments always give the same
files, byte for byte, under the same names and with the same mtimes.
Nothing depends on the clock, the pid or the host name; timestamps and
unique parts of names all come from the seed.

Command line
------------
  mkmaildir.py DIR --count N [--seed S] [--folders K] [--new PCT]
               [--flags] [--keywords] [--broken PCT] [--sizes SPEC]
  mkmaildir.py --mbox FILE --count N [--seed S] [--broken PCT] [--sizes SPEC]

prints a one-line JSON summary (see below).  As a module:

  import mkmaildir
  summary = mkmaildir.make("/tmp/Maildir", count=500, seed=7, folders=4,
                           new=10, flags=True, keywords=True)
  summary = mkmaildir.make("/tmp/mail.mbox", count=500, mbox=True)

What is written
---------------
DIR/{cur,new,tmp}           INBOX (DIR must not already hold a Maildir)
DIR/.Sent/{cur,new,tmp}     folder "Sent", with an empty maildirfolder file;
                            "Lists/dev" is DIR/.Lists.dev, "Entwürfe" is
                            DIR/.Entw&APw-rfe (modified UTF-7)
DIR/subscriptions           the folders, one a line ("Lists/dev")
dovecot-keywords            in every folder with --keywords: 0 $Forwarded,
                            1 $Junk, 2 $NotJunk, 3 Work, 4 Personal

File names are <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize> plus
":2,<flags>" in cur/.  S= is the byte size on disk (LF line ends), W= the
size with every bare LF counted as CRLF.  secs is the delivery time, which
is also the file's mtime (the IMAP INTERNALDATE); the Date: header is a
little earlier, in the sender's time zone.  Deliveries are spread evenly
over two years starting in 2024 and come in ascending name order, so the
first INBOX message is also the oldest.

Messages are weighted like real mail: plain text (us-ascii, 8-bit UTF-8,
quoted-printable, format=flowed, ISO-8859-1/windows-1252), text+HTML
alternatives, multipart/mixed with base64 attachments (PDF, PNG, JPEG,
Office and zip files start with the right magic bytes), multipart/related
with inline images nested in alternatives, forwarded message/rfc822 (some
with their own attachments), PGP multipart/signed, delivery status
reports, calendar invitations, HTML-only newsletters and spam, and old
messages without MIME headers.  Headers carry RFC 2047 encoded words
(UTF-8 B and Q, ISO-8859-1 Q), RFC 2231 file names (filename*=UTF-8''...,
with continuations for long ones), Received chains, DKIM signatures,
reply threads (Message-ID, In-Reply-To, References), mailing-list headers
(List-Id and friends), Cc and many-recipient lists.  Correspondents keep
one mail client each, so boundaries, Message-ID styles and encodings are
consistent per sender.  Every Message-ID is unique.

Folders (--folders K) are the first K of: Sent, Drafts, Trash, Junk,
Archive, Lists/dev, Entwürfe, Projects/2026, Lists/announce,
Projects/2026/Q4, Archive/2024, "Rechnungen & Belege", 日本語; beyond these,
Misc/Folder NN.  Each holds the kind of mail its name says (Sent is the
owner's mail, Junk is spam, Lists/dev is list mail, ...).  INBOX gets
most messages; with count > K every folder gets at least one.

Sizes (--sizes SPEC)
--------------------
The whole message size is drawn from weighted buckets, log-uniform inside
each: SPEC is "weight:low-high,..." with K/M suffixes.  The default,
  24:1K-3K,65.6:3K-20K,10:20K-100K,0.4:100K-2M
aims at about 90% of messages between 1 and 20 KB, 10% of 20-100 KB with
attachments, and 1 in 250 of 100 KB-2 MB, a mean of 14 KB.  Sizes are
targets: a message needs its headers (trace headers alone are 1-3 KB) and
its structure, so small ones come out larger.  On disk the median is about
7 KB, 84% are 2-20 KB, 0.5% are over 100 KB, and the mean is about 15 KB:
100,000 messages take about 1.5 GB.

Flags, new/
-----------
--new PCT puts the newest PCT% of INBOX in new/ (no ":2," suffix).
--flags gives cur/ files realistic flags per folder (mostly S; some RS,
FS, PS, F, ST; DS and D in drafts; many ST in Trash); without it cur/
names end in ":2,".  --keywords adds keyword letters a..e ($Forwarded
with P, $Junk in Junk, $NotJunk, Work, Personal).

Broken messages (--broken PCT)
------------------------------
That share of messages is deliberately broken, each kind in turn; each
has an "X-Broken: <kind>" first header: missing-final-boundary,
no-boundary, 8bit-header, nul-in-body, huge-header (one 1 MB header line),
header-only (no separator, no body), mixed-crlf, no-separator (body
straight after the headers), deep-nesting (120 nested multiparts),
bad-base64.  Needle messages and the first/last of INBOX are never broken.

Summary
-------
The JSON summary has: count, total_bytes, new, broken (and broken_kinds),
folders {name: {dir, messages, new, bytes, first, last}} (first/last are
the Message-IDs of the oldest and newest message there), inbox_first,
inbox_last, owner, needles, absent_word, size_distribution, keywords.
needles is a list of {word, where, count, hits: {folder: [Message-ID]}}:
rare made-up words placed in a known set of messages -- in the body (on
a line of their own, never split by encoding, so the raw file contains
them; one only as 8-bit UTF-8), only in the Subject, or only in an
X-Campaign header.  absent_word appears in no message.
"""

import argparse
import base64
import binascii
import bisect
import html
import json
import math
import os
import random
import re
import sys
import time
import urllib.parse

DEFAULT_SIZES = "24:1K-3K,65.6:3K-20K,10:20K-100K,0.4:100K-2M"

OWNER_NAME = "Robin Keller"
OWNER_ADDR = "robin.keller@example.org"
MX_HOST = "mx.example.org"
EPOCH = 1704067200              # 2024-01-01 00:00:00 UTC
SPAN = 730 * 86400              # two years
OWNER_TZ = 60                   # minutes east of UTC
ABSENT_WORD = "xylophonequark"
KEYWORDS = ("$Forwarded", "$Junk", "$NotJunk", "Work", "Personal")

# (word, where, first index, period); period 0: the one message count // 2
NEEDLES = (
    ("zebracorn", "body", 7, 211),
    ("quokkafire", "body", 0, 0),
    ("Zebrakörnchen", "body-utf8", 11, 401),
    ("glimmerwhisk", "subject", 3, 307),
    ("plumbagoat", "header X-Campaign", 5, 503),
)

# (name, weight, content kind, flag profile); INBOX has weight 60
FOLDERS = (
    ("Sent", 10, "sent", "sent"),
    ("Drafts", 1, "draft", "draft"),
    ("Trash", 4, "trash", "trash"),
    ("Junk", 3, "spam", "spam"),
    ("Archive", 8, "archive", "archive"),
    ("Lists/dev", 8, "list:dev", "list"),
    ("Entwürfe", 1, "draft", "draft"),
    ("Projects/2026", 3, "archive", "archive"),
    ("Lists/announce", 2, "list:announce", "list"),
    ("Projects/2026/Q4", 2, "archive", "archive"),
    ("Archive/2024", 4, "archive", "archive"),
    ("Rechnungen & Belege", 2, "invoice", "archive"),
    ("日本語", 1, "ja", "inbox"),
)
INBOX_WEIGHT = 60

BROKEN_KINDS = ("missing-final-boundary", "no-boundary", "8bit-header",
                "nul-in-body", "huge-header", "header-only", "mixed-crlf",
                "no-separator", "deep-nesting", "bad-base64")

LISTS = {
    "dev": ("dev.lists.example.org", "dev@lists.example.org",
            "Developer discussion", "[dev]"),
    "announce": ("announce.lists.example.org", "announce@lists.example.org",
                 "Release announcements", "[announce]"),
}

# ---------------------------------------------------------------- words

_EN = """the of and to in is that for it as was with be by on not this are or
from at which but have an they you were there been one all we their has would
when if so no what up out about into than them can only other new some could
time these two may then do first any my now such like our over also back after
use how our work well way even because good each those people very just most
see know get make think take come should here need still last next week
report meeting budget release server mailbox folder quarterly draft review
patch build deploy invoice schedule agenda notes question answer thanks update
status issue ticket customer project deadline proposal contract estimate
attached document slides figures numbers results analysis plan team office
travel hotel flight conference workshop lunch dinner coffee morning afternoon
tomorrow yesterday Monday Tuesday Wednesday Thursday Friday weekend holiday
backup restore database migration upgrade outage incident monitoring alert
latency throughput benchmark regression feature branch merge commit review
tests coverage documentation manual release notes version changelog roadmap
design prototype feedback survey interview candidate hiring onboarding
payroll expenses receipt reimbursement approval signature deadline priority
please kindly appreciate discuss confirm check forward reply schedule cancel
move postpone prepare finish start continue agree disagree suggest recommend
garden kitchen family weekend birthday party photos trip beach mountains
weather rain sunshine train station airport parking bicycle
neighbour""".split()

_EN_NONASCII = ["café", "naïve", "résumé", "déjà vu", "façade", "über",
                "coöperation", "Zoë", "🙂", "👍", "🎉", "☕", "—", "“quoted”",
                "€50", "±2%", "½ day"]

_LANG = {
    "de": """und der die das nicht mit für über Grüße Straße schön Bücher
Prüfung Änderung morgen Besprechung Termin Rechnung Bericht Woche Frühstück
größer natürlich möglich Übersicht Entwurf Kollegen Projekt Zeitplan Angebot
bitte danke gerne heute nächste Woche Mittwoch Donnerstag Büro Ärger Lösung
Vorschlag Unterlagen Anhang wichtig dringend schließlich außerdem während
Mitarbeiter Geschäftsführung Abteilung Kunde Auftrag Lieferung Qualität""",
    "fr": """le la les et être avoir très déjà été réunion problème à côté
garçon voilà où café élève prochaine semaine rapport projet équipe demain
hier bientôt merci beaucoup pièce jointe numéro réponse question société
développement créer réussi fenêtre hôtel théâtre français Noël dîner
premier deuxième sûr peut-être ça déménagement intéressé""",
    "es": """el la los y de que señor mañana año niño reunión informe también
está después página canción proyecto equipo semana próxima gracias
información pregunta respuesta empresa oficina documento adjunto España
corazón acción último rápido difícil fácil según además""",
    "ru": """привет спасибо встреча отчёт завтра неделя проект письмо вопрос
ответ сервер почта команда работа файл документ сегодня вчера пятница
понедельник обновление релиз ошибка исправление тест планы бюджет""",
    "el": """καλημέρα ευχαριστώ συνάντηση αναφορά αύριο εβδομάδα έργο ομάδα
ερώτηση απάντηση έγγραφο συνημμένο σήμερα χθες Παρασκευή διακομιστής
αλληλογραφία προϋπολογισμός σχέδιο""",
    "ja": """こんにちは ありがとう 会議 報告書 明日 来週 プロジェクト メール
確認 お願いします よろしく 資料 添付 予定 変更 担当 サーバー 障害 対応 今日
昨日 金曜日 予算 見積もり""",
}
_LANG = {k: v.split() for k, v in _LANG.items()}

_SIGNOFF = {
    "en": ["Best regards,", "Thanks,", "Cheers,", "Kind regards,", "Best,"],
    "de": ["Viele Grüße", "Beste Grüße", "Mit freundlichen Grüßen"],
    "fr": ["Cordialement,", "Bien à vous,", "Merci d'avance,"],
    "es": ["Saludos,", "Un abrazo,", "Atentamente,"],
    "ru": ["С уважением,", "Спасибо,"],
    "el": ["Φιλικά,", "Με εκτίμηση,"],
    "ja": ["よろしくお願いします。", "以上です。"],
}
_GREETING = {
    "en": ["Hi %s,", "Hello %s,", "Dear %s,", "%s,", "Hey %s,"],
    "de": ["Hallo %s,", "Liebe/r %s,", "Guten Tag %s,"],
    "fr": ["Bonjour %s,", "Salut %s,"],
    "es": ["Hola %s,", "Estimado %s,"],
    "ru": ["Привет, %s!", "Здравствуйте, %s!"],
    "el": ["Γεια σου %s,", "Αγαπητέ %s,"],
    "ja": ["%sさん", "%s様"],
}

# (first names, last names, domains, time zones); tuples are (name, ascii)
_NAMES = {
    "en": ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory "
           "Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Wendy Xavier "
           "Yvonne Zoë:zoe Chloé:chloe Åsa:asa Łukasz:lukasz Søren:soren "
           "Çağla:cagla",
           "Smith Jones Brown Taylor Wilson O'Brien:obrien Johnson Lee Walker "
           "Wright Hall Wiśniewski:wisniewski Yılmaz:yilmaz Dvořák:dvorak "
           "Kierkegård:kierkegaard Nguyen Patel Okafor",
           "example.com example.net mail.example.com corp.example.net "
           "acme.example globex.example initech.example",
           (-480, -420, -300, -240, 0, 0, 60, 330)),
    "de": ("Jürgen:juergen Günter:guenter Jörg:joerg Anja Sabine Kai "
           "Björn:bjoern Lena Uwe Steffi",
           "Müller:mueller Schäfer:schaefer Weiß:weiss Böhm:boehm Groß:gross "
           "Köhler:koehler Schmidt Becker Hoffmann",
           "firma.example gmbh.example example.net", (60, 60, 120)),
    "fr": ("François:francois Amélie:amelie Hélène:helene Jérôme:jerome "
           "Céline:celine Noël:noel Luc Sophie",
           "Dubois Lefèvre:lefevre Bérard:berard Moreau Girard "
           "Lemaître:lemaitre",
           "societe.example example.org", (60, 120)),
    "es": ("José:jose María:maria Inés:ines Ramón:ramon Begoña:begona Pablo",
           "García:garcia Núñez:nunez Peña:pena Ibáñez:ibanez Martín:martin",
           "empresa.example example.com", (60, -180, -300)),
    "ru": ("Дмитрий:dmitry Ольга:olga Сергей:sergey Наталья:natalia",
           "Иванов:ivanov Смирнова:smirnova Кузнецов:kuznetsov Попова:popova",
           "kompaniya.example example.net", (180,)),
    "el": ("Νίκος:nikos Ελένη:eleni Γιώργος:giorgos",
           "Παπαδόπουλος:papadopoulos Οικονόμου:oikonomou",
           "etaireia.example", (120,)),
    "ja": ("太郎:taro 花子:hanako 健:ken 由美:yumi",
           "田中:tanaka 佐藤:sato 鈴木:suzuki 高橋:takahashi",
           "kaisha.example example.co.example", (540,)),
}

_LANG_WEIGHTS = (("en", 70), ("de", 11), ("fr", 6), ("es", 5), ("ru", 3),
                 ("el", 2), ("ja", 3))

# client: (weight, Message-ID style, boundary style, text modes, html share)
_CLIENTS = {
    "gmail": (33, "gmail", "gmail", ("7bit", "qpl"), 0.95),
    "outlook": (24, "outlook", "outlook", ("qp", "l1qp"), 0.95),
    "thunderbird": (16, "uuid", "tb", ("flowed", "8bit"), 0.3),
    "apple": (12, "apple", "apple", ("qp", "qp"), 0.6),
    "mutt": (6, "mutt", "mutt", ("8bit", "l1"), 0.0),
    "webmail": (9, "hex", "webmail", ("qp", "b64"), 0.8),
}
_UA = {
    "gmail": None,
    "outlook": ("X-Mailer", "Microsoft Outlook 16.0"),
    "thunderbird": ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) "
                    "Gecko/20100101 Thunderbird/115.8.1"),
    "apple": ("X-Mailer", "Apple Mail (2.3774.400.31)"),
    "mutt": ("User-Agent", "Mutt/2.2.12 (2023-09-09)"),
    "webmail": ("X-Mailer", "Roundcube Webmail/1.6.6"),
}
# header order per client (the rest follow)
_ORDER = {
    "gmail": ("MIME-Version", "References", "In-Reply-To", "From", "Date",
              "Message-ID", "Subject", "To", "Cc"),
    "outlook": ("From", "To", "Cc", "Subject", "Thread-Topic", "Thread-Index",
                "Date", "Message-ID", "References", "In-Reply-To",
                "Accept-Language", "Content-Language", "X-MS-Has-Attach",
                "MIME-Version"),
    "thunderbird": ("Message-ID", "Date", "MIME-Version", "User-Agent",
                    "Subject", "To", "Cc", "References", "From",
                    "In-Reply-To", "Content-Language"),
    "apple": ("From", "Mime-Version", "Subject", "Date", "References", "To",
              "Cc", "In-Reply-To", "Message-Id", "X-Mailer"),
    "mutt": ("Date", "From", "To", "Cc", "Subject", "Message-ID",
             "References", "In-Reply-To", "MIME-Version", "User-Agent"),
    "webmail": ("MIME-Version", "Date", "From", "To", "Cc", "Subject",
                "In-Reply-To", "References", "Message-ID", "X-Sender",
                "User-Agent"),
}

_SUBJECT_TEMPLATES = (
    "{W} {w} {w}", "{W} {w} {w} {w}", "{W} {w} for {day}",
    "{W} {w} {w} {w} {w}", "Invoice #{n}", "Meeting on {day}",
    "Q{q} {w} review", "[JIRA] (PROJ-{n}) {W} {w} {w}",
    "Your order {n} has shipped", "{W} {w} - {W} {w}",
    "Question about the {w} {w}", "Minutes: {w} {w} meeting",
    "Build #{n} failed on main", "{W} {w}?", "Reminder: {w} {w} due {day}",
    "Notes from {day}", "{W}", "{W} and {w}",
)
_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_SPAM_SUBJECTS = (
    "You have won a {w}!!!", "Ｆｒｅｅ ｇｉｆｔ ｃａｒｄ ｆｏｒ ｙｏｕ",
    "Increase your sales by 300%", "Ваш выигрыш ждёт вас",
    "Urgent: account verification needed", "💰 Make money fast 💰",
    "Re: your invoice {n}", "Congratulations {W}, you are selected",
    "Cheap meds - {n}% off", "Ihr Paket konnte nicht zugestellt werden",
)

_WDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
        "Nov", "Dec")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64CH = _ALNUM + "+/"
_HEX = "0123456789abcdef"
_HEXU = "0123456789ABCDEF"
_MASK40 = (1 << 40) - 1

_OOXML = (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 16 +
          b"\x13\x00\x08\x02[Content_Types].xml")
_ATTACH = {
    # kind: (content type, magic bytes, file names)
    "pdf": ("application/pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
            b"<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
            ("report.pdf", "Invoice-2024-0381.pdf", "Übersicht 2026.pdf",
             "Rechnung März.pdf", "contract_signed_final_v3.pdf",
             "Protokoll der Sitzung vom 14. März – Entwurf für alle "
             "Abteilungen.pdf",
             "scan0001.pdf", "見積書.pdf")),
    "png": ("image/png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00"
            b"\x03\x00\x08\x06\x00\x00\x00",
            ("screenshot.png", "Bildschirmfoto 2024-05-02 um 10.14.22.png",
             "diagram.png", "graph-latency.png")),
    "jpg": ("image/jpeg",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00"
            b"\xff\xdb\x00C\x00",
            ("IMG_2041.jpg", "photo.jpg", "写真.jpg", "Strand à Nice.jpg",
             "DSC00042.JPG")),
    "docx": ("application/vnd.openxmlformats-officedocument."
             "wordprocessingml.document", _OOXML,
             ("proposal.docx", "résumé.docx", "Angebot_Müller.docx")),
    "xlsx": ("application/vnd.openxmlformats-officedocument."
             "spreadsheetml.sheet", _OOXML,
             ("budget.xlsx", "отчёт.xlsx", "figures Q3.xlsx")),
    "zip": ("application/zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
            ("logs.zip", "archive.zip", "Fotos Urlaub.zip")),
    "bin": ("application/octet-stream", b"\x7fELF\x02\x01\x01\x00",
            ("data.bin", "firmware.img")),
}
_ATTACH_BIG = (("pdf", 35), ("jpg", 30), ("png", 10), ("docx", 8),
               ("xlsx", 5), ("zip", 10), ("bin", 2))
_ATTACH_SMALL = (("pdf", 30), ("png", 20), ("jpg", 15), ("csv", 8),
                 ("ics", 5), ("txt", 5), ("docx", 8), ("xlsx", 5), ("bin", 4))

_OUTLOOK_STYLE = """\
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:Calibri;
\tpanose-1:2 15 5 2 2 2 4 3 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0cm;
\tfont-size:11.0pt;
\tfont-family:"Calibri",sans-serif;
\tmso-ligatures:standardcontextual;
\tmso-fareast-language:EN-US;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}
span.EmailStyle17
\t{mso-style-type:personal-compose;
\tfont-family:"Calibri",sans-serif;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-size:10.0pt;
\tmso-fareast-language:EN-US;}
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}
div.WordSection1
\t{page:WordSection1;}
--></style>
"""
_HTML_HEAD = {
    "gmail": ('<div dir="ltr">', "</div>\n"),
    "outlook": (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" '
        'xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
        'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
        '<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\n'
        '<meta name="Generator" content="Microsoft Word 15 '
        '(filtered medium)">\n' + _OUTLOOK_STYLE + '</head>\n'
        '<body lang="EN-US" link="#0563C1" vlink="#954F72" '
        'style="word-wrap:break-word">\n<div class="WordSection1">\n',
        "</div>\n</body>\n</html>\n"),
    "thunderbird": (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta '
        'http-equiv="content-type" content="text/html; charset=UTF-8">\n'
        '  </head>\n  <body>\n',
        "  </body>\n</html>\n"),
    "apple": (
        '<html><head><meta http-equiv="content-type" content="text/html; '
        'charset=utf-8"></head><body style="overflow-wrap: break-word; '
        '-webkit-nbsp-mode: space; line-break: after-white-space;">\n',
        "</body></html>\n"),
    "webmail": (
        '<html><head><meta http-equiv="Content-Type" content="text/html; '
        'charset=UTF-8" /></head><body style=\'font-size: 10pt; '
        'font-family: Verdana,Geneva,sans-serif\'>\n',
        "</body></html>\n"),
    "spam": (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html><head><meta name="viewport" content="width=device-width, '
        'initial-scale=1.0"><style type="text/css">body{margin:0;padding:0;'
        'background:#f4f4f4}.btn{background:#ff6600;color:#ffffff;'
        'padding:12px 24px;border-radius:4px}</style></head>\n'
        '<body><table width="100%" cellpadding="0" cellspacing="0" '
        'border="0" bgcolor="#f4f4f4"><tr><td align="center">\n'
        '<table width="600" cellpadding="20" cellspacing="0" border="0" '
        'bgcolor="#ffffff"><tr><td>\n',
        '<p><a class="btn" href="https://deals.example.net/click?id=884213">'
        'Claim now</a></p>\n</td></tr></table>\n'
        '<img src="https://track.example.net/o/884213.gif" width="1" '
        'height="1" alt="">\n</td></tr></table></body></html>\n'),
}
_HTML_HEAD["mutt"] = _HTML_HEAD["thunderbird"]


# ---------------------------------------------------------------- helpers

def _fmt_date(t, off, pad=False, comment=""):
    """RFC 5322 date of t (UTC seconds) in a zone off minutes east."""
    tm = time.gmtime(t + off * 60)
    a = abs(off)
    day = ("%2d" if pad else "%d") % tm.tm_mday
    s = "%s, %s %s %d %02d:%02d:%02d %s%02d%02d" % (
        _WDAY[tm.tm_wday], day, _MON[tm.tm_mon - 1], tm.tm_year, tm.tm_hour,
        tm.tm_min, tm.tm_sec, "-" if off < 0 else "+", a // 60, a % 60)
    return s + comment if comment else s


def _fold(line, width=76):
    """Fold a header line at spaces so lines stay near width."""
    if len(line) <= width:
        return line
    out = []
    cur = ""
    for tok in line.split(" "):
        if cur and len(cur) + 1 + len(tok) > width and cur[-1] != ":":
            out.append(cur)
            cur = " " + tok
        else:
            cur = cur + " " + tok if cur else tok
    out.append(cur)
    return "\n".join(out)


def _ew(s, charset="UTF-8", enc="B"):
    """RFC 2047 encoded words for s, separated by spaces (for _fold)."""
    latin = charset.lower() in ("iso-8859-1", "windows-1252")
    codec = "latin-1" if latin else "utf-8"
    words = []
    if enc in "Bb":
        cur = b""
        for ch in s:
            b = ch.encode(codec, "replace")
            if len(cur) + len(b) > 39:
                words.append(base64.b64encode(cur).decode())
                cur = b""
            cur += b
        words.append(base64.b64encode(cur).decode())
    else:
        cur = ""
        for ch in s:
            if ch == " ":
                t = "_"
            elif ch.isascii() and (ch.isalnum() or ch in "!*+-/"):
                t = ch
            else:
                t = "".join("=%02X" % x for x in ch.encode(codec, "replace"))
            if len(cur) + len(t) > 48:
                words.append(cur)
                cur = ""
            cur += t
        words.append(cur)
    return " ".join("=?%s?%s?%s?=" % (charset, enc, w) for w in words)


def _ew_words(s, charset, enc):
    """Encode only the runs of non-ASCII words, as many mailers do."""
    out, run = [], []
    for tok in s.split(" "):
        if tok.isascii():
            if run:
                out.append(_ew(" ".join(run), charset, enc))
                run = []
            out.append(tok)
        else:
            run.append(tok)
    if run:
        out.append(_ew(" ".join(run), charset, enc))
    return " ".join(out)


def mutf7(name):
    """IMAP modified UTF-7 (RFC 3501 5.1.3) of a folder name."""
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def _wrap(text, width=72):
    if " " not in text:                     # CJK: a line per sentence
        return [s for s in text.replace("。", "。\n").split("\n") if s]
    lines, cur, n = [], [], 0
    for w in text.split(" "):
        if cur and n + 1 + len(w) > width:
            lines.append(" ".join(cur))
            cur, n = [w], len(w)
        else:
            n += len(w) + (1 if cur else 0)
            cur.append(w)
    if cur:
        lines.append(" ".join(cur))
    return lines


def parse_sizes(spec):
    """'w:lo-hi,...' (K/M suffixes) -> [(cumulative weight, lo, hi)]."""
    def num(s):
        s = s.strip().upper()
        mult = 1
        if s.endswith("K"):
            mult, s = 1024, s[:-1]
        elif s.endswith("M"):
            mult, s = 1024 * 1024, s[:-1]
        return int(float(s) * mult)
    out, total = [], 0.0
    for item in spec.split(","):
        try:
            w, rng = item.split(":")
            lo, hi = rng.split("-")
            w, lo, hi = float(w), num(lo), num(hi)
        except ValueError:
            raise ValueError("bad size bucket %r (want weight:low-high)"
                             % item)
        if w <= 0 or lo < 200 or hi < lo:
            raise ValueError("bad size bucket %r" % item)
        total += w
        out.append([total, lo, hi])
    for b in out:
        b[0] /= total
    return out


def size_mean(spec):
    """Expected message size in bytes of a size spec (before structure)."""
    prev, mean = 0.0, 0.0
    for cum, lo, hi in parse_sizes(spec):
        m = (hi - lo) / math.log(hi / lo) if hi > lo else lo
        mean += (cum - prev) * m
        prev = cum
    return mean


# ---------------------------------------------------------------- corpus

class _Corpus:
    """Paragraphs and random bytes shared by every run (fixed seed), with
    their encoded forms cached: per-message work is only picking."""

    def __init__(self):
        r = random.Random("mkmaildir corpus 1")
        self.text = []
        self.pool = {}
        self.latin1 = []
        ascii_pool = []
        for lang, n in (("en", 2500), ("de", 220), ("fr", 150), ("es", 150),
                        ("ru", 120), ("el", 80), ("ja", 100)):
            idx = []
            for _ in range(n):
                p = self._paragraph(r, lang)
                i = len(self.text)
                self.text.append(p)
                try:
                    p.encode("latin-1")
                    self.latin1.append(True)
                except UnicodeEncodeError:
                    self.latin1.append(False)
                if p.isascii():
                    ascii_pool.append(i)
                idx.append(i)
            self.pool[lang] = idx
        self.pool["ascii"] = ascii_pool
        self.pool["l1"] = {lang: [i for i in self.pool[lang] if self.latin1[i]]
                           for lang in ("en", "de", "fr", "es")}
        self.rawlen = [len(p.encode()) + len(p) // 72 for p in self.text]
        self.cache = {}
        # random bytes for attachments, base64 in 76-character lines
        while True:
            raw = r.randbytes(57 * 73000)
            pool = base64.encodebytes(raw)
            low = pool.lower()
            if not any(w.lower().encode() in low
                       for w in [ABSENT_WORD] + [n[0] for n in NEEDLES]):
                break
        self.raw = raw
        self.b64 = pool
        self.b64lines = len(pool) // 77

    @staticmethod
    def _paragraph(r, lang):
        out = []
        words = _EN if lang == "en" else _LANG[lang]
        for _ in range(r.randint(1, 6)):
            n = r.randint(5, 18)
            ws = r.choices(words, k=n)
            if lang == "en" and r.random() < 0.04:
                ws[r.randrange(n)] = r.choice(_EN_NONASCII)
            if lang == "en" and r.random() < 0.03:
                ws.insert(r.randrange(n), "https://wiki.example.org/%s/%d" % (
                    r.choice(("page", "ticket", "doc")), r.randint(1, 99999)))
            if lang == "ja":
                out.append("".join(ws) + "。")
                continue
            if n > 8 and r.random() < 0.3:
                ws[r.randrange(2, n - 1)] += ","
            s = " ".join(ws)
            out.append(s[0].upper() + s[1:] + r.choice("....?!"))
        p = ("" if lang == "ja" else " ").join(out)
        if lang == "en" and r.random() < 0.03:
            p = "From " + p[0].lower() + p[1:]      # mbox quoting material
        return p

    def form(self, i, base, l1, qp):
        """Paragraph i as bytes: base w(rapped) l(ong line) f(lowed)
        q(uoted) h(tml, wrapped) H(tml, one line); latin-1 or UTF-8;
        optionally quoted-printable."""
        key = (i, base, l1, qp)
        b = self.cache.get(key)
        if b is None:
            b = _render_text(self.text[i], base, l1, qp)
            self.cache[key] = b
        return b

    def b64_lines(self, r, n):
        """n random full base64 lines (76 characters + LF)."""
        out = []
        while n > 0:
            k = min(n, self.b64lines)
            s = r.randrange(self.b64lines - k + 1)
            out.append(self.b64[s * 77:(s + k) * 77])
            n -= k
        return b"".join(out)


def _render_text(text, base, l1, qp):
    if base == "w":
        s = "\n".join(_wrap(text))
    elif base == "l":
        s = text
    elif base == "f":
        lines = _wrap(text, 66)
        lines = [(" " + ln if ln.startswith(("From ", ">", " ")) else ln)
                 for ln in lines]
        s = " \n".join(lines)
    elif base == "q":
        s = "\n".join("> " + ln for ln in _wrap(text, 70))
    elif base == "h":
        s = "<p>" + "\n".join(_wrap(html.escape(text, quote=False))) + "</p>"
    else:  # "H"
        s = '<p class="MsoNormal">' + html.escape(text, quote=False) + "</p>"
    b = s.encode("latin-1" if l1 else "utf-8", "replace")
    if qp:
        b = binascii.b2a_qp(b)
    return b


_CORPUS = None


def _corpus():
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = _Corpus()
    return _CORPUS


# ---------------------------------------------------------------- people

class _Person:
    __slots__ = ("name", "first", "last", "addr", "domain", "lang", "client",
                 "tz", "hdr", "sig", "ip", "mx")


def _make_person(r, lang=None, client=None):
    if lang is None:
        lang = r.choices([l for l, _ in _LANG_WEIGHTS],
                         [w for _, w in _LANG_WEIGHTS])[0]
    firsts, lasts, domains, tzs = _NAMES[lang]
    f, _, fa = r.choice(firsts.split()).partition(":")
    la, _, laa = r.choice(lasts.split()).partition(":")
    fa, laa = (fa or f).lower(), (laa or la).lower().replace("'", "")
    p = _Person()
    p.lang, p.first, p.last = lang, f, la
    p.name = la + " " + f if lang == "ja" else f + " " + la
    p.domain = r.choice(domains.split())
    local = r.choice((fa + "." + laa, fa + "." + laa, fa[0] + laa, fa,
                      fa + "_" + laa, "%s%d" % (fa, r.randint(1, 99))))
    p.addr = "%s@%s" % (local, p.domain)
    if client is None:
        client = r.choices(list(_CLIENTS),
                           [c[0] for c in _CLIENTS.values()])[0]
    p.client = client
    p.tz = r.choice(tzs)
    p.hdr = _addr_hdr(r, p)
    p.sig = None
    if r.random() < 0.5:
        p.sig = "-- \n%s\n%s\n%s" % (p.name, r.choice((
            "Senior Engineer", "Project Manager", "Head of Sales",
            "Consultant", "Operations", "PhD student", "Geschäftsführer",
            "Chargée de projet")),
            r.choice(("Example Corp.", "ACME Ltd.", "Globex GmbH",
                      "+1 555 0100", "https://www.example.com/")))
    p.ip = "%s.%d" % (r.choice(("192.0.2", "198.51.100", "203.0.113")),
                      r.randint(2, 250))
    p.mx = r.choice(("mail", "smtp", "mx1", "out", "mail-%s-f%d" % (
        r.choice(("wm1", "ej1", "lf1")), r.randint(10, 99)))) + "." + p.domain
    return p


def _addr_hdr(r, p):
    """How this person's mailer writes their address."""
    name = p.name
    if r.random() < 0.03:
        return p.addr
    if name.isascii():
        if "'" in name or r.random() < 0.3:
            return '"%s" <%s>' % (name, p.addr)
        if r.random() < 0.1:
            return '"%s, %s" <%s>' % (p.last, p.first, p.addr)
        return "%s <%s>" % (name, p.addr)
    latin1 = True
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        latin1 = False
    c = p.client
    if latin1 and c in ("outlook", "mutt") and r.random() < 0.5:
        enc = _ew(name, "iso-8859-1", "Q")
    elif c in ("apple", "mutt"):
        enc = _ew(name, "utf-8", "Q")
    elif c == "outlook":
        enc = _ew(name, "utf-8", "B")
    else:
        enc = _ew(name, "UTF-8", "B")
    return "%s <%s>" % (enc, p.addr)


def _owner():
    p = _Person()
    p.name, p.first, p.last = OWNER_NAME, "Robin", "Keller"
    p.addr, p.domain, p.lang = OWNER_ADDR, "example.org", "en"
    p.client, p.tz = "thunderbird", OWNER_TZ
    p.hdr = "%s <%s>" % (OWNER_NAME, OWNER_ADDR)
    p.sig = "-- \nRobin Keller\nExample Org - Infrastructure"
    p.ip, p.mx = "192.0.2.1", "mail.example.org"
    return p


def _header(name, value):
    """A header line, folded unless it comes folded already."""
    line = "%s: %s" % (name, value)
    return line if "\n" in value else _fold(line)


_CANON = {"Message-Id": "Message-ID", "Mime-Version": "MIME-Version"}


def _mailer_daemon():
    p = _Person()
    p.name = "Mail Delivery System"
    p.addr = "MAILER-DAEMON@mail.example.org"
    p.hdr = "MAILER-DAEMON@mail.example.org (Mail Delivery System)"
    p.domain, p.tz, p.client = "mail.example.org", OWNER_TZ, "java"
    p.ip, p.mx = "192.0.2.1", "mail.example.org"
    p.first, p.lang, p.sig = "", "en", None
    return p


def _list_headers(name, lst):
    return {
        "List-Id": "%s <%s>" % (lst[2], lst[0]),
        "List-Unsubscribe": "<mailto:%s?subject=unsubscribe>, <https://"
                            "lists.example.org/mailman/listinfo/%s>"
                            % (lst[1].replace("@", "-request@"), name),
        "List-Post": "<mailto:%s>" % lst[1],
        "List-Archive": "<https://lists.example.org/archives/%s/>" % name,
        "Precedence": "list",
        "Sender": '"%s" <%s>' % (name, lst[1].replace("@", "-bounces@")),
    }


# ---------------------------------------------------------------- messages

class _Ctx:
    """What one message (or one forwarded inner message) is made of."""
    __slots__ = ("sender", "client", "lang", "latin1", "needles", "needle8",
                 "greet", "quote", "attrib", "tok", "t", "spam")


class _Gen:
    def __init__(self, seed, sizes):
        self.c = _corpus()
        self.r = random.Random("mkmaildir %s content" % seed)
        pr = random.Random("mkmaildir %s people" % seed)
        self.people = [_make_person(pr) for _ in range(300)]
        # most mail comes from a few people
        self.pcum = []
        acc = 0.0
        for k in range(len(self.people)):
            acc += 1.0 / (k + 3)
            self.pcum.append(acc)
        self.ja_people = [p for p in self.people if p.lang == "ja"]
        self.spammers = [_make_person(pr, lang="en", client="webmail")
                         for _ in range(40)]
        for s in self.spammers:
            s.domain = pr.choice(("deals-4u.example", "win.example",
                                  "pharma.example", "offer.example.net"))
            s.addr = "%s%d@%s" % (
                pr.choice(("info", "promo", "noreply", "win")),
                pr.randint(1, 9999), s.domain)
            s.hdr = pr.choice(('"Customer Service" <%s>',
                               "=?UTF-8?B?8J+OgSBTcGVjaWFsIE9mZmVy?= <%s>",
                               "PayPaI Support <%s>", "%s")) % s.addr
        self.owner = _owner()
        self.idmix = random.Random("mkmaildir %s ids" % seed).getrandbits(40)
        self.sizes = parse_sizes(sizes)
        self.sizecum = [b[0] for b in self.sizes]
        self.threads = []
        self.inner = 0
        # delivery processes: pid, names made, names left
        self.pid = 1000 + random.Random(
            "mkmaildir %s pid" % seed).randrange(30000)
        self.q = 0
        self.qleft = 0

    # -- small random pieces

    def tok(self, i):
        return (i * 0x9E3779B97F4A7C15 + self.idmix) & _MASK40

    def rs(self, alphabet, n):
        return "".join(self.r.choices(alphabet, k=n))

    def person(self):
        r = self.r
        if r.random() < 0.8:
            return self.people[bisect.bisect(self.pcum,
                                             r.random() * self.pcum[-1])]
        return self.people[r.randrange(len(self.people))]

    def size(self):
        r = self.r
        b = self.sizes[min(bisect.bisect(self.sizecum, r.random()),
                           len(self.sizes) - 1)]
        return int(b[1] * (b[2] / b[1]) ** r.random())

    def msgid(self, style, tok, t, domain):
        r = self.r
        if style == "gmail":
            return "<CA%s%s%s@mail.gmail.com>" % (
                self.rs(_B64CH, 6), "%010X" % tok,
                self.rs(_ALNUM + "+=_-", 30))
        if style == "outlook":
            box = r.choice(("AM0PR07MB", "DB9PR04MB", "VI1PR10MB",
                            "PAXPR08MB"))
            n = r.randint(1000, 9999)
            return "<%s%d%010X%s@%s%d.eurprd07.prod.outlook.com>" % (
                box, n, tok, self.rs("ABCDEF0123456789", 6), box, n)
        if style in ("uuid", "apple"):
            s = "%08x-%04x-%04x-%04x-%010x%02x" % (
                r.getrandbits(32), r.getrandbits(16),
                0x4000 | r.getrandbits(12), 0x8000 | r.getrandbits(14), tok,
                r.getrandbits(8))
            return "<%s@%s>" % (s.upper() if style == "apple" else s, domain)
        if style == "mutt":
            tm = time.gmtime(t)
            return "<%04d%02d%02d%02d%02d%02d.GA%d@%s>" % (
                tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, tok,
                r.choice(("laptop", "box", "x230")) + "." + domain)
        if style == "list":
            return "<%d.%x.%s@%s>" % (t, tok, self.rs(_HEX, 8), domain)
        return "<%s%010x%s@%s>" % (self.rs(_HEX, 14), tok, self.rs(_HEX, 8),
                                   domain)

    def boundary(self, style):
        r = self.r
        if style == "gmail":
            return "000000000000" + self.rs(_HEX, 16)
        if style == "outlook":
            return "_%03d_%s%s_" % (
                r.choice((0, 4, 2)),
                r.choice(("AM0PR07MB", "DB9PR04MB", "VI1PR10MB")),
                self.rs("ABCDEF0123456789", 22))
        if style == "tb":
            return "------------" + self.rs(_ALNUM, 24)
        if style == "apple":
            return "Apple-Mail=_%08X-%04X-%04X-%04X-%012X" % (
                r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
                r.getrandbits(16), r.getrandbits(48))
        if style == "mutt":
            return self.rs(_ALNUM, 16)
        if style == "java":
            return "----=_Part_%d_%d.%d" % (
                r.randint(1, 999999), r.randint(1, 2**31),
                r.randint(10**12, 10**13))
        return "=_" + self.rs(_HEX, 32)

    # -- text

    def subject(self, lang, spam=False):
        r = self.r
        if spam:
            s = r.choice(_SPAM_SUBJECTS)
        elif lang != "en" and r.random() < 0.8:
            ws = r.choices(_LANG[lang], k=r.randint(2, 6))
            s = (" " if lang != "ja" else "").join(ws)
            return s[0].upper() + s[1:]
        else:
            s = r.choice(_SUBJECT_TEMPLATES)
        while "{W}" in s:
            w = r.choice(_EN)
            s = s.replace("{W}", w[0].upper() + w[1:], 1)
        while "{w}" in s:
            s = s.replace("{w}", r.choice(_EN), 1)
        if "{" in s:
            s = s.format(day=r.choice(_DAYS_EN), n=r.randint(100, 99999),
                         q=r.randint(1, 4))
        return s

    def enc_subject(self, s, client, latin1):
        if s.isascii():
            return s
        r = self.r
        if latin1:
            try:
                s.encode("latin-1")
                cs = r.choice(("iso-8859-1", "ISO-8859-1", "windows-1252"))
                return _ew_words(s, cs, "Q")
            except UnicodeEncodeError:
                pass
        if client in ("apple", "mutt"):
            return _ew_words(s, "utf-8", "Q")
        if client == "thunderbird" and r.random() < 0.5:
            return _ew_words(s, "UTF-8", "Q")
        return _ew(s, "UTF-8" if client != "outlook" else "utf-8", "B")

    def doc(self, m, budget):
        """The items of a text of about budget bytes: ('p', paragraph),
        ('q', quoted paragraph), ('l', literal text).  Returns (items,
        is_ascii)."""
        r, c = self.r, self.c
        head = [("l", r.choice(_GREETING[m.lang]) % m.greet)]
        tail = [("l", "%s\n%s" % (r.choice(_SIGNOFF[m.lang]), m.sender.first))]
        if m.sender.sig and r.random() < 0.7:
            tail.append(("l", m.sender.sig))
        if m.quote:
            tail.append(("l", m.attrib))
            tail += [("q", i) for i in m.quote]
        size = 0
        for kind, v in head + tail:
            size += (len(v) if kind == "l" else c.rawlen[v]) + 2
        if m.latin1:
            pool = c.pool["l1"].get(m.lang) or c.pool["l1"]["en"]
        elif m.lang == "en" and r.random() < 0.5:
            pool = c.pool["ascii"]
        else:
            pool = c.pool[m.lang]
        rawlen = c.rawlen
        items = head
        while True:
            i = pool[r.randrange(len(pool))]
            if size + rawlen[i] // 2 > budget and \
                    len(items) > 1 - bool(m.quote):
                break
            items.append(("p", i))
            size += rawlen[i] + 2
        for w in m.needles:
            items.insert(r.randint(1, len(items)),
                         ("l", ("Stichwort: %s" if not w.isascii() else
                                "Reference: %s") % w))
        items += tail
        asc = all(v.isascii() if kind == "l" else c.text[v].isascii()
                  for kind, v in items)
        return items, asc

    def render(self, items, base, l1, qp):
        """Plain text of a doc: base is the paragraph form (w, l, f)."""
        c = self.c
        out = []
        for kind, v in items:
            if kind == "p":
                out.append(c.form(v, base, l1, qp))
            elif kind == "q":
                out.append(c.form(v, "q", l1, qp))
            else:
                b = v.encode("latin-1" if l1 else "utf-8", "replace")
                out.append(binascii.b2a_qp(b) if qp else b)
        return b"\n\n".join(out) + b"\n"

    def render_html(self, items, client, qp, extra=b""):
        c = self.c
        head, tail = _HTML_HEAD.get(client, _HTML_HEAD["thunderbird"])
        base = "H" if qp else "h"
        out = [head.encode()]
        inq = False
        for kind, v in items:
            if kind == "q" and not inq:
                out.append(b'<blockquote type="cite">')
                inq = True
            elif kind != "q" and inq:
                out.append(b"</blockquote>")
                inq = False
            if kind in "pq":
                out.append(c.form(v, base, False, False))
            else:
                t = html.escape(v, quote=False).replace("\n", "<br>\n")
                out.append(("<p>" + t + "</p>").encode())
        if inq:
            out.append(b"</blockquote>")
        if extra:
            out.append(extra)
        out.append(tail.encode())
        b = b"\n".join(out)
        return binascii.b2a_qp(b) if qp else b

    # -- MIME parts

    def text_part(self, m, budget, items=None):
        """A text/plain entity: (content header lines, body bytes)."""
        r = self.r
        if items is None:
            items, asc = self.doc(m, budget)
        else:
            items, asc = items
        modes = _CLIENTS[m.client][3]
        mode = modes[0] if asc or r.random() < 0.6 else modes[1]
        if m.latin1:
            mode = "l1qp" if mode in ("qp", "l1qp", "qpl", "b64") else "l1"
        elif mode in ("l1", "l1qp"):
            mode = "8bit" if mode == "l1" else "qp"
        if m.needle8 or (m.needles and mode == "b64"):
            mode = "8bit"
        if mode == "7bit" and not asc:
            mode = "qpl"
        ct = "Content-Type: text/plain; charset="
        cte = "Content-Transfer-Encoding: "
        bits = "7bit" if asc else "8bit"
        if mode == "7bit":
            body = self.render(items, "w", False, False)
            if m.client == "gmail":
                return [ct + '"UTF-8"'], body
            return [ct + "us-ascii", cte + "7bit"], body
        if mode == "8bit":
            return [ct + ("us-ascii" if asc else "utf-8"), cte + bits], \
                self.render(items, "w", False, False)
        if mode == "flowed":
            return [ct + "UTF-8; format=flowed", cte + bits], \
                self.render(items, "f", False, False)
        if mode in ("qp", "qpl"):
            cs = '"utf-8"' if m.client == "outlook" else "utf-8"
            if m.client == "gmail":
                cs = '"UTF-8"'
            return [ct + cs, cte + "quoted-printable"], \
                self.render(items, "l" if mode == "qpl" else "w", False, True)
        if mode in ("l1", "l1qp"):
            cs = r.choice(("iso-8859-1", "ISO-8859-1", "windows-1252"))
            return [ct + cs, cte + ("8bit" if mode == "l1" else
                                    "quoted-printable")], \
                self.render(items, "w", True, mode == "l1qp")
        # b64
        return [ct + "UTF-8; format=flowed", cte + "base64"], \
            base64.encodebytes(self.render(items, "w", False, False))

    def html_part(self, m, items, client=None, extra=b""):
        r = self.r
        client = client or m.client
        ct = "Content-Type: text/html; charset="
        cte = "Content-Transfer-Encoding: "
        if client == "outlook" or client == "gmail" or r.random() < 0.5:
            return [ct + ('"utf-8"' if client == "outlook" else '"UTF-8"'),
                    cte + "quoted-printable"], \
                self.render_html(items, client, True, extra)
        body = self.render_html(items, client, False, extra)
        if client == "webmail" and r.random() < 0.3 and not m.needles:
            return [ct + "UTF-8", cte + "base64"], base64.encodebytes(body)
        return [ct + "UTF-8", cte + "8bit"], body

    @staticmethod
    def entity(hdrs, body):
        return ("\n".join(hdrs)).encode() + b"\n\n" + body

    def multipart(self, sub, parts, style, params="", preamble=True):
        """parts are (headers, body); returns (headers, body)."""
        b = self.boundary(style)
        bb = b"--" + b.encode()
        out = []
        if preamble and style in ("tb", "outlook", "webmail", "java"):
            out.append(b"This is a multi-part message in MIME format.\n")
        for h, body in parts:
            out.append(bb + b"\n")
            out.append(self.entity(h, body))
            if not body.endswith(b"\n"):
                out.append(b"\n")
            if style in ("tb", "apple"):
                out.append(b"\n")
        out.append(bb + b"--\n")
        return ['Content-Type: multipart/%s;%s\n boundary="%s"'
                % (sub, params, b)], b"".join(out)

    def b64_data(self, magic, nraw):
        r = self.r
        head = magic + r.randbytes((-len(magic)) % 57)
        n = max(0, nraw - len(head)) // 57
        tail = r.randbytes(r.randint(1, 56))
        return (base64.encodebytes(head) + self.c.b64_lines(r, n) +
                base64.encodebytes(tail))

    def fname_params(self, name, client):
        """(Content-Type parameter, Content-Disposition parameter)."""
        if name.isascii():
            return '\n name="%s"' % name, '\n filename="%s"' % name
        q = urllib.parse.quote(name.encode(), safe="!#$&+-.^_`|~")
        ew = _ew(name, "UTF-8", "B").replace(" ", "\n ")
        if len(q) > 60:
            chunks, cur = [], ""
            i = 0
            while i < len(q):
                step = 3 if q[i] == "%" else 1
                if len(cur) + step > 50:
                    chunks.append(cur)
                    cur = ""
                cur += q[i:i + step]
                i += step
            chunks.append(cur)
            cont = ";".join("\n filename*%d*=%s%s"
                            % (k, "UTF-8''" if k == 0 else "", ch)
                            for k, ch in enumerate(chunks))
            return '\n name="%s"' % ew, cont
        if client in ("gmail", "outlook", "apple"):
            return '\n name="%s"' % ew, '\n filename="%s"' % ew
        if client == "mutt":
            return "\n name*=utf-8''%s" % q, "\n filename*=utf-8''%s" % q
        return '\n name="%s"' % ew, "\n filename*=UTF-8''%s" % q

    def attachment(self, m, nbytes, big=False):
        r = self.r
        table = _ATTACH_BIG if big or nbytes > 60000 else _ATTACH_SMALL
        kind = r.choices([k for k, _ in table], [w for _, w in table])[0]
        if kind in ("csv", "ics", "txt"):
            return self.text_attachment(m, kind, min(nbytes, 30000))
        ctype, magic, names = _ATTACH[kind]
        name = r.choice(names)
        p_ct, p_cd = self.fname_params(name, m.client)
        h = ["Content-Type: %s;%s" % (ctype, p_ct)]
        if m.client == "outlook":
            desc = name if name.isascii() else _ew(name, "utf-8", "B")
            h.append("Content-Description: " + desc)
            p_cd += ";\n size=%d" % int(nbytes * 0.74)
        h.append("Content-Disposition: attachment;" + p_cd)
        h.append("Content-Transfer-Encoding: base64")
        if m.client in ("thunderbird", "apple") and r.random() < 0.3:
            h.append("Content-ID: <part%d.%s@example.org>"
                     % (r.randint(1, 9), self.rs(_HEX, 8)))
        return h, self.b64_data(magic, int(nbytes * 57 / 77))

    def text_attachment(self, m, kind, nbytes):
        r = self.r
        if kind == "csv":
            lines = ["date,account,amount,description"]
            n = 0
            while n < nbytes:
                n += len(lines[-1]) + 1
                lines.append("2024-%02d-%02d,%d,%d.%02d,%s %s" % (
                    r.randint(1, 12), r.randint(1, 28), r.randint(1000, 9999),
                    r.randint(0, 9999), r.randint(0, 99), r.choice(_EN),
                    r.choice(_EN)))
            body = ("\n".join(lines) + "\n").encode()
            return ['Content-Type: text/csv; charset=UTF-8;\n'
                    ' name="export.csv"',
                    'Content-Disposition: attachment;\n filename="export.csv"',
                    "Content-Transfer-Encoding: 7bit"], body
        if kind == "ics":
            return ["Content-Type: text/calendar; charset=UTF-8; "
                    'method=REQUEST;\n name="invite.ics"',
                    'Content-Disposition: attachment;\n filename="invite.ics"',
                    "Content-Transfer-Encoding: base64"], \
                base64.encodebytes(self.ical(m).encode())
        lines = []
        n = 0
        while n < nbytes:
            n += len(lines[-1]) + 1 if lines else 0
            lines.append(
                "2024-%02d-%02dT%02d:%02d:%02d server[%d]: %s %s %s" % (
                    r.randint(1, 12), r.randint(1, 28), r.randint(0, 23),
                    r.randint(0, 59), r.randint(0, 59), r.randint(100, 65000),
                    r.choice(_EN), r.choice(_EN), r.choice(_EN)))
        return ['Content-Type: text/plain; charset=us-ascii;\n'
                ' name="server.log"',
                'Content-Disposition: attachment;\n filename="server.log"',
                "Content-Transfer-Encoding: 7bit"], \
            ("\n".join(lines) + "\n").encode()

    def ical(self, m):
        r = self.r
        t = m.t + 86400 * r.randint(1, 20)
        tm = time.gmtime(t - t % 1800)
        stamp = "%04d%02d%02dT%02d%02d00Z" % (
            tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min)
        return ("BEGIN:VCALENDAR\nPRODID:-//Example//Calendar 1.0//EN\n"
                "VERSION:2.0\nMETHOD:REQUEST\nBEGIN:VEVENT\nDTSTART:%s\n"
                "DURATION:PT1H\nSUMMARY:%s\nUID:%s@example.org\n"
                "ORGANIZER;CN=%s:mailto:%s\n"
                "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
                "RSVP=TRUE:mailto:%s\nLOCATION:Room %d\nEND:VEVENT\n"
                "END:VCALENDAR\n") % (
                    stamp, r.choice(_EN).capitalize() + " sync",
                    self.rs(_HEX, 24), m.sender.name, m.sender.addr,
                    OWNER_ADDR, r.randint(100, 499))

    def inline_image(self, m, n, nbytes):
        r = self.r
        kind = r.choice(("png", "jpg"))
        ctype, magic, _ = _ATTACH[kind]
        name = "image%03d.%s" % (n, kind)
        if m.client == "outlook":
            cid = "%s@01DA%04X.%08X" % (name, r.getrandbits(16),
                                        r.getrandbits(32))
        else:
            cid = "ii_%s" % self.rs(_HEX + "z", 18)
        h = ['Content-Type: %s;\n name="%s"' % (ctype, name),
             'Content-Disposition: inline;\n filename="%s"' % name,
             "Content-Transfer-Encoding: base64", "Content-ID: <%s>" % cid]
        return cid, (h, self.b64_data(magic, nbytes * 57 // 77))

    # -- bodies

    def html_overhead(self, m, client=None):
        head, tail = _HTML_HEAD.get(client or m.client,
                                    _HTML_HEAD["thunderbird"])
        return len(head) + len(tail) + 150

    def alt_doc(self, m, budget):
        """A doc sized so that text + HTML take about budget bytes."""
        return self.doc(m, (budget - self.html_overhead(m)) * 10 // 21)

    def body(self, m, kind, budget):
        """(content header lines, body bytes) of a message of this kind."""
        r = self.r
        bstyle = _CLIENTS[m.client][2]
        if kind == "plain":
            return self.text_part(m, budget)
        if kind == "legacy":
            items, asc = self.doc(m, budget)
            b = self.render(items, "w", False, False)
            return [], b if asc else b.decode().encode("ascii", "replace")
        if kind == "html":
            client = "spam" if m.spam else None
            items, _ = self.doc(
                m, (budget - self.html_overhead(m, client)) * 10 // 11)
            return self.html_part(m, items, client)
        if kind == "alt":
            items = self.alt_doc(m, budget - 150)
            return self.multipart("alternative", [
                self.text_part(m, 0, items), self.html_part(m, items[0])],
                bstyle)
        if kind == "invite":
            cal = self.ical(m).encode()
            items = self.alt_doc(m, budget - len(cal) - 300)
            return self.multipart("alternative", [
                self.text_part(m, 0, items), self.html_part(m, items[0]),
                (["Content-Type: text/calendar; charset=UTF-8; "
                  "method=REQUEST", "Content-Transfer-Encoding: 7bit"], cal)],
                bstyle)
        if kind == "signed":
            h, b = self.text_part(m, budget - 750)
            lines = self.c.b64_lines(r, 6).split(b"\n")[:6]
            lines[-1] = lines[-1][:20] + b"="
            sig = (b"-----BEGIN PGP SIGNATURE-----\n\n" +
                   b"\n".join(ln[:64] for ln in lines) +
                   b"\n=" + self.rs(_B64CH, 4).encode() +
                   b"\n-----END PGP SIGNATURE-----\n")
            return self.multipart("signed", [(h, b), (
                ["Content-Type: application/pgp-signature; "
                 'name="signature.asc"',
                 "Content-Description: OpenPGP digital signature",
                 "Content-Disposition: attachment; "
                 'filename="signature.asc"'], sig)],
                bstyle, ' micalg=pgp-sha256;\n'
                ' protocol="application/pgp-signature";', preamble=False)
        if kind == "related":
            text = min(budget // 3, r.randint(2500, 9000))
            items = self.alt_doc(m, text)
            nimg = r.choice((1, 1, 2, 3))
            rest = budget - text - 400 * (nimg + 1)
            attach = rest > 60000 or r.random() < 0.3
            if attach:
                rest //= 2
            imgs = [self.inline_image(m, k + 1, max(rest // nimg, 300))
                    for k in range(nimg)]
            hh, hb = self.html_part(m, items[0], extra=b"\n".join(
                b'<p><img src="cid:%s" alt=""></p>' % cid.encode()
                for cid, _ in imgs))
            rel = self.multipart(
                "related", [(hh, hb)] + [p for _, p in imgs], bstyle,
                ' type="text/html";' if m.client == "outlook" else "",
                preamble=False)
            alt = self.multipart("alternative",
                                 [self.text_part(m, 0, items), rel],
                                 bstyle, preamble=False)
            if attach:
                att = self.attachment(m, max(budget - len(alt[1]) - 300, 300))
                return self.multipart("mixed", [alt, att], bstyle)
            return alt
        if kind == "mixed":
            text = min(budget // 2, r.randint(400, 4000))
            if m.client != "mutt" and _CLIENTS[m.client][4] > r.random():
                items = self.alt_doc(m, text)
                first = self.multipart("alternative", [
                    self.text_part(m, 0, items), self.html_part(m, items[0])],
                    bstyle, preamble=False)
            else:
                first = self.text_part(m, text)
            rest = budget - len(first[1]) - 100
            if rest > 200000 or rest < 1500:
                n = 1
            else:
                n = r.choice((1, 1, 1, 2, 2, 3))
            rest = max(rest - 250 * n, 300)
            parts = [first]
            for k in range(n):
                share = rest // n if k < n - 1 else rest - rest // n * (n - 1)
                parts.append(self.attachment(m, share, big=rest > 100000))
            return self.multipart("mixed", parts, bstyle)
        if kind == "forward":
            note = self.text_part(m, r.randint(100, 800))
            inner = self.inner_message(m, max(budget - len(note[1]) - 900,
                                              400))
            if r.random() < 0.5:
                disp = "Content-Disposition: inline"
            else:
                disp = ("Content-Disposition: attachment;\n"
                        ' filename="forwarded.eml"')
            return self.multipart("mixed", [note, (
                ["Content-Type: message/rfc822", disp], inner)], bstyle)
        if kind == "report":
            return self.report(m)
        raise ValueError(kind)

    def inner_tok(self):
        self.inner += 1
        return self.tok((1 << 39) + self.inner)

    def inner_message(self, outer, budget):
        """A whole earlier message, for message/rfc822."""
        r = self.r
        m = _Ctx()
        m.sender = self.person()
        m.client, m.lang = m.sender.client, m.sender.lang
        m.latin1, m.needles, m.needle8 = False, (), False
        m.greet, m.quote, m.attrib = outer.sender.first, None, ""
        m.t = outer.t - r.randint(3600, 86400 * 30)
        m.tok = self.inner_tok()
        m.spam = False
        subj = self.subject(m.lang)
        if budget > 30000:
            kind = "mixed"
        elif budget < 4000:
            kind = "plain"
        else:
            kind = r.choice(("plain", "alt", "alt", "mixed"))
        if m.client == "mutt" and kind == "alt":
            kind = "plain"
        ch, body = self.body(m, kind, budget)
        hdr = ["Date: " + _fmt_date(m.t, m.sender.tz),
               "From: " + m.sender.hdr,
               _fold("To: " + outer.sender.hdr),
               _fold("Subject: " + self.enc_subject(subj, m.client, False))]
        hdr.append("Message-ID: " + self.msgid(
            _CLIENTS[m.client][1], m.tok, m.t, m.sender.domain))
        if ch:
            hdr.append("MIME-Version: 1.0")
        hdr += ch
        return self.entity(hdr, body)

    def report(self, m):
        r = self.r
        bad = "%s@%s" % (r.choice(("nobody", "old.address", "j.doe", "sales")),
                         r.choice(("example.net", "globex.example")))
        domain = bad.split("@")[1]
        qid = self.rs(_HEXU, 10)
        note = (
            "This is the mail system at host mail.example.org.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n\n"
            "For further assistance, please send mail to postmaster.\n\n"
            "If you do so, please include this problem report. You can\n"
            "delete your own text from the attached returned message.\n\n"
            "                   The mail system\n\n"
            "<%s>: host mx.%s said: 550 5.1.1 <%s>: Recipient\n"
            "    address rejected: User unknown in virtual mailbox table\n"
        ) % (bad, domain, bad)
        ds = (
            "Reporting-MTA: dns; mail.example.org\nX-Postfix-Queue-ID: %s\n"
            "X-Postfix-Sender: rfc822; %s\nArrival-Date: %s\n\n"
            "Final-Recipient: rfc822; %s\nOriginal-Recipient: rfc822;%s\n"
            "Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.%s\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address "
            "rejected:\n    User unknown in virtual mailbox table\n"
        ) % (qid, OWNER_ADDR, _fmt_date(m.t - 5, OWNER_TZ), bad, bad, domain,
             bad)
        orig = (
            "Return-Path: <%s>\nReceived: from [192.0.2.77] by "
            "mail.example.org (Postfix) with ESMTPSA id %s\n\tfor <%s>; %s\n"
            "Message-ID: %s\nDate: %s\nMIME-Version: 1.0\nFrom: %s\nTo: %s\n"
            "Subject: %s\nContent-Type: text/plain; charset=UTF-8; "
            "format=flowed\nContent-Transfer-Encoding: 7bit\n"
        ) % (OWNER_ADDR, qid, bad, _fmt_date(m.t - 5, OWNER_TZ),
             self.msgid("uuid", self.inner_tok(), m.t, "example.org"),
             _fmt_date(m.t - 6, OWNER_TZ), self.owner.hdr, bad,
             self.subject("en"))
        return self.multipart("report", [
            (["Content-Description: Notification",
              "Content-Type: text/plain; charset=us-ascii"], note.encode()),
            (["Content-Description: Delivery report",
              "Content-Type: message/delivery-status"], ds.encode()),
            (["Content-Description: Undelivered Message Headers",
              "Content-Type: text/rfc822-headers"], orig.encode())],
            "java", " report-type=delivery-status;", preamble=False)

    # -- whole messages

    def pick_kind(self, role, client, budget, needles):
        r = self.r
        if budget > 45000:
            table = (("mixed", 70), ("related", 12), ("forward", 18))
        elif role == "spam":
            table = (("html", 55), ("alt", 35), ("mixed", 10))
        elif role in ("sent", "draft"):
            table = (("plain", 55), ("alt", 15), ("mixed", 22),
                     ("forward", 6), ("signed", 2))
        elif role == "list":
            table = (("plain", 60), ("alt", 18), ("signed", 12),
                     ("mixed", 10))
        else:
            table = (("plain", 30), ("alt", 32), ("mixed", 16),
                     ("related", 5), ("forward", 5), ("signed", 2),
                     ("report", 1), ("legacy", 2), ("html", 2),
                     ("invite", 2))
        if needles:
            table = [t for t in table
                     if t[0] not in ("report", "legacy", "html")]
        if budget < 8000:
            table = [t for t in table if t[0] not in ("related", "invite")]
        kind = r.choices([k for k, _ in table], [w for _, w in table])[0]
        if client == "mutt":
            kind = {"alt": "plain", "related": "mixed", "html": "plain",
                    "invite": "plain"}.get(kind, kind)
        return kind

    def thread_pick(self):
        r = self.r
        n = len(self.threads)
        k = n - 1 - min(int(r.expovariate(1 / 12.0)), n - 1)
        return self.threads[k]

    def attribution(self, m, t, ap, base):
        """The line(s) above the quoted text of a reply to ap."""
        r = self.r
        when = _fmt_date(t - r.randint(600, 90000), ap.tz)
        if m.client == "gmail":
            return "On %s, %s <%s> wrote:" % (when, ap.name, ap.addr)
        if m.client == "outlook":
            return ("-----Original Message-----\nFrom: %s <%s>\nSent: %s\n"
                    "Subject: %s" % (ap.name, ap.addr, when, base))
        return "On %s, %s wrote:" % (when[5:-6], ap.name)

    def message(self, i, role, t, target, needles, listname=None, lang=None):
        """One message: returns (bytes, Message-ID)."""
        r = self.r
        m = _Ctx()
        m.t = t
        m.tok = self.tok(i)
        m.needles = [w for w, where in needles if where.startswith("body")]
        m.needle8 = any(where == "body-utf8" for _, where in needles)
        subj_needle = [w for w, where in needles if where == "subject"]
        hdr_needle = [w for w, where in needles if where.startswith("header")]
        owner = self.owner
        spam = role == "spam"
        if spam:
            sender = r.choice(self.spammers)
        elif role in ("sent", "draft"):
            sender = owner
        else:
            sender = self.person()
            if lang == "ja" and sender.lang != "ja" and self.ja_people:
                sender = r.choice(self.ja_people)
        hdr_est = 700 if role in ("sent", "draft") else 2600
        kind = self.pick_kind(role, sender.client, target - hdr_est, needles)
        dsn = kind == "report"
        if dsn:
            sender = _mailer_daemon()
        m.sender = sender
        m.spam = spam
        m.client = sender.client if not dsn else "thunderbird"
        m.lang = sender.lang
        m.latin1 = (m.lang in ("de", "fr", "es") and
                    m.client in ("outlook", "mutt") and
                    r.random() < 0.4 and not m.needle8)
        m.quote, m.attrib = None, ""
        reply = None
        tlist = listname if role == "list" else None
        p_reply = {"sent": 0.6, "list": 0.45, "draft": 0.3}.get(role, 0.3)
        if self.threads and not spam and not subj_needle and not dsn and \
                r.random() < p_reply:
            reply = self.thread_pick()
            if reply[4] != tlist:
                reply = None
        # recipients
        to, cc = [], []
        if role in ("sent", "draft"):
            if reply and reply[2] is not owner:
                peer = reply[2]
            else:
                peer = self.person()
            to = [peer]
            m.greet = peer.first
            if reply is None and r.random() < 0.2:
                to += [self.person() for _ in range(r.randint(1, 4))]
        elif role == "list":
            m.greet = "all"
        else:
            to = [owner]
            m.greet = owner.first
            if r.random() < 0.15:
                to += [self.person() for _ in range(r.randint(1, 8))]
        if not spam and not dsn and r.random() < 0.18:
            cc = [self.person() for _ in range(r.choice((1, 1, 2, 3, 6)))]
        if m.lang == "ja":
            m.greet = to[0].last if role in ("sent", "draft") else owner.last
        # subject and thread
        lst = LISTS.get(listname) if role == "list" else None
        refs = None
        if reply is not None:
            base, refs = reply[0], list(reply[1])
            pre = {"outlook": "RE: ", "apple": "Re: "}.get(m.client, "Re: ")
            if m.lang == "de" and m.client == "outlook":
                pre = "AW: "
            subj = pre + base
            parent = refs[-1] if r.random() < 0.85 else r.choice(refs)
            q = self.c.pool.get(reply[3]) or self.c.pool["en"]
            m.quote = [q[r.randrange(len(q))] for _ in range(r.randint(1, 3))]
            m.attrib = self.attribution(m, t, reply[2], base)
        elif dsn:
            subj = base = "Undelivered Mail Returned to Sender"
            parent = None
        else:
            subj = self.subject(m.lang, spam)
            if subj_needle:
                subj = "%s %s %s" % (r.choice(_EN).capitalize(),
                                     subj_needle[0], r.choice(_EN))
            base = subj
            parent = None
        if lst and not subj.startswith(lst[3]) and reply is None:
            subj = lst[3] + " " + subj
            base = subj
        style = "list" if spam or dsn else _CLIENTS[m.client][1]
        mid = self.msgid(style, m.tok, t, sender.domain)
        # thread bookkeeping
        if reply is not None:
            if role != "draft":
                reply[1].append(mid)
                if len(reply[1]) > 40:
                    del reply[1][1:20]
            if sender is not owner:
                reply[2] = sender
        elif not spam and not subj_needle and not dsn and role != "draft":
            self.threads.append([base, [mid],
                                 sender if role != "sent" else to[0],
                                 m.lang, tlist])
            if len(self.threads) > 400:
                del self.threads[:100]
        d = {}
        delay = r.choice((2, 3, 5, 8, 15, 40, 120, 900)) + r.randrange(5)
        date = t - (1 if role in ("sent", "draft") else delay)
        d["Date"] = _fmt_date(date, sender.tz, pad=m.client == "mutt")
        d["From"] = sender.hdr
        if role == "list":
            d["To"] = lst[1] if lst else "list@lists.example.org"
        elif spam and r.random() < 0.4:
            d["To"] = "undisclosed-recipients:;"
        else:
            d["To"] = ", ".join(p.hdr for p in to)
        if cc:
            d["Cc"] = ", ".join(p.hdr for p in cc)
        if role != "draft" or subj_needle or r.random() < 0.9:
            if subj_needle:
                d["Subject"] = subj
            else:
                d["Subject"] = self.enc_subject(subj, m.client, m.latin1)
        d["Message-ID"] = mid
        if parent:
            d["In-Reply-To"] = parent
            rl = refs if len(refs) <= 12 else refs[:1] + refs[-10:]
            if parent in rl:
                rl = rl[:rl.index(parent) + 1]
            d["References"] = " ".join(rl)
        ua = _UA.get(m.client)
        if ua and not dsn:
            d[ua[0]] = ua[1]
        if m.client == "outlook":
            d["Thread-Topic"] = self.enc_subject(base, m.client, m.latin1)
            d["Thread-Index"] = base64.b64encode(r.randbytes(22)).decode()
            d["Accept-Language"] = "en-US, de-DE"
            d["Content-Language"] = {"de": "de-DE",
                                     "fr": "fr-FR"}.get(m.lang, "en-US")
            d["X-MS-Has-Attach"] = "yes" if kind in ("mixed", "forward") \
                else ""
        elif m.client == "thunderbird" and not dsn:
            d["Content-Language"] = {"de": "de-DE", "fr": "fr",
                                     "es": "es-ES"}.get(m.lang, "en-US")
        if kind != "legacy":
            d["MIME-Version"] = "1.0"
        if lst:
            d.update(_list_headers(listname, lst))
        if hdr_needle:
            if r.random() < 0.5:
                d["X-Campaign"] = "%s-%d" % (hdr_needle[0], r.randint(1, 99))
            else:
                d["X-Campaign"] = hdr_needle[0]
        if spam:
            d["X-Spam-Flag"] = "YES"
            d["X-Spam-Status"] = (
                "Yes, score=%d.%d required=5.0 tests=BAYES_99,HTML_MESSAGE,\n"
                "\tMIME_HTML_ONLY,URIBL_BLOCKED autolearn=spam"
                % (r.randint(6, 30), r.randint(0, 9)))
        if role == "draft":
            d["X-Mozilla-Draft-Info"] = (
                "internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0;\n"
                " attachmentreminder=0; deliveryformat=0")
            d["X-Identity-Key"] = "id1"
        # trace headers
        trace = []
        if role not in ("sent", "draft"):
            trace = self.trace(m, sender, t, date, lst, spam, dsn)
        # body
        hlen = sum(len(k) + len(v) + 3 for k, v in d.items()) + \
            sum(map(len, trace))
        ch, body = self.body(m, kind, max(target - hlen - 200, 200))
        lines = []
        for k in _ORDER.get(m.client, _ORDER["thunderbird"]):
            v = d.pop(_CANON.get(k, k), None)
            if v is not None:
                lines.append(_header(k, v))
        for k, v in d.items():
            lines.append(_header(k, v))
        head = "\n".join(trace + lines + ch).encode()
        self.last_sender = sender.addr
        return head + b"\n\n" + body, mid

    def trace(self, m, sender, t, date, lst, spam, dsn):
        r = self.r
        if dsn:
            rpath = ""
        elif lst:
            rpath = lst[1].replace("@", "-bounces@")
        else:
            rpath = sender.addr
        out = ["Return-Path: <%s>" % rpath, "Delivered-To: " + OWNER_ADDR]

        def here(x):
            return _fmt_date(x, OWNER_TZ, pad=True, comment=" (CET)")
        if r.random() < 0.5:
            out.append(
                "Received: from mail.example.org\n"
                "\tby mail.example.org with LMTP\n\tid %s\n"
                "\t(envelope-from <%s>)\n\tfor <%s>; %s"
                % (self.rs(_B64CH, 22), rpath, OWNER_ADDR, here(t)))
        qid = self.rs("0123456789BCDFGHJKLMNPQRSTVWXYZ"
                      "bcdfghjklmnpqrstvwxyz", 12)
        if dsn:
            out.append("Received: by mail.example.org (Postfix)\n\tid %s; %s"
                       % (qid, here(t)))
            return out
        hop = lst and "lists.example.org" or sender.mx
        ip = "198.51.100.25" if lst else sender.ip
        out.append(
            "Received: from %s (%s [%s])\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
            "(256/256 bits)\n"
            "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) "
            "server-digest SHA256)\n"
            "\t(No client certificate requested)\n"
            "\tby %s (Postfix) with ESMTPS id 4V%s\n\tfor <%s>; %s"
            % (hop, hop, ip, MX_HOST, qid, OWNER_ADDR, here(t - 1)))
        if lst:
            out.append(
                "Received: from %s (%s [%s])\n"
                "\tby lists.example.org (Postfix) with ESMTPS id %s\n"
                "\tfor <%s>; %s"
                % (sender.mx, sender.mx, sender.ip,
                   self.rs(_HEXU, 10), lst[1],
                   _fmt_date(t - 3, 0, comment=" (UTC)")))
        if r.random() < 0.6:
            smtp_id = self.rs("abcdefghijklmnopqrstuvwxyz0123456789", 20) + \
                "." + str(r.randint(10, 999))
            tz = -480 if r.random() < 0.5 else 0
            comment = " (PST)" if r.random() < 0.2 else ""
            out.append("Received: by %s with SMTP id %s;\n        %s" % (
                sender.mx, smtp_id, _fmt_date(date + 1, tz, comment=comment)))
        if r.random() < 0.3 and not spam:
            out.append(
                "Received: from [10.%d.%d.%d] (unknown [%s])\n"
                "\tby %s with ESMTPSA id %s;\n\t%s"
                % (r.randint(0, 255), r.randint(0, 255), r.randint(1, 254),
                   sender.ip, sender.mx, self.rs(_HEXU, 12),
                   _fmt_date(date, sender.tz)))
        if spam:
            out.append("X-Spam-Score: %d.%d"
                       % (r.randint(6, 30), r.randint(0, 9)))
        ok = "fail" if spam else "pass"
        out.append(
            "Authentication-Results: mx.example.org;\n"
            "\tdkim=%s header.d=%s header.s=s%d header.b=%s;\n"
            "\tspf=%s (example.org: domain of %s designates %s as permitted "
            "sender) smtp.mailfrom=%s;\n"
            "\tdmarc=%s (p=REJECT sp=REJECT dis=NONE) header.from=%s"
            % (ok, sender.domain, 2024, self.rs(_B64CH, 8),
               "softfail" if spam else "pass", sender.addr, ip,
               sender.domain, ok, sender.domain))
        if r.random() < 0.75:
            b = self.c.b64_lines(r, 5).replace(b"\n", b"")
            sig = b[:344].decode()
            out.append(
                "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n"
                "\ts=s2024; t=%d; x=%d; "
                "h=from:to:cc:subject:date:message-id\n"
                "\t :mime-version:content-type:in-reply-to:references;\n"
                "\tbh=%s=;\n\tb=%s\n\t %s\n\t %s\n\t %s="
                % (sender.domain, date, date + 604800, self.rs(_B64CH, 43),
                   sig[:70], sig[70:140], sig[140:210], sig[210:278]))
        return out

    # -- broken messages

    def broken(self, kind, data, mid, t):
        """A deliberately broken variant of data (a good message)."""
        r = self.r
        head = (b"X-Broken: %s\nDate: %s\n"
                b"From: Broken Sender <broken@example.net>\nTo: %s\n"
                b"Subject: broken message (%s)\nMessage-ID: %s\n"
                b"MIME-Version: 1.0\n"
                % (kind.encode(), _fmt_date(t - 30, 60).encode(),
                   OWNER_ADDR.encode(), kind.encode(), mid.encode()))
        text = b"\n\n".join(self.c.form(i, "w", False, False) for i in
                            r.choices(self.c.pool["ascii"], k=8)) + b"\n"
        plain = b"Content-Type: text/plain; charset=us-ascii\n"

        def mixed(b, attach):
            b = b.encode()
            return (head + b'Content-Type: multipart/mixed; boundary="%s"\n\n'
                    % b + b"--" + b + b"\n" + plain + b"\n" + text +
                    b"--" + b + b"\n" + attach)
        if kind == "missing-final-boundary":
            return mixed(self.boundary("tb"),
                         b'Content-Type: application/pdf; name="cut.pdf"\n'
                         b"Content-Transfer-Encoding: base64\n\n" +
                         self.b64_data(_ATTACH["pdf"][1], 20000)[:-30])
        if kind == "no-boundary":
            return head + (b"Content-Type: multipart/alternative; "
                           b'boundary="never-there-%s"\n\n'
                           % self.rs(_HEX, 8).encode()) + text
        if kind == "8bit-header":
            head = head.replace(
                b"Subject: broken",
                "Subject: Grüße aus München, broken".encode("latin-1"))
            head = head.replace(b"Broken Sender",
                                "Jürgen Müller Broken".encode("utf-8"))
            return head + b"Content-Type: text/plain; charset=utf-8\n\n" + \
                text
        if kind == "nul-in-body":
            k = len(text) // 2
            return head + plain + b"\n" + text[:k] + b"\0" + text[k:]
        if kind == "huge-header":
            line = b" ".join(r.choices([w.encode() for w in _EN], k=200))
            filler = (line + b" ") * (1048576 // (len(line) + 1) + 1)
            return head + b"X-Filler: " + filler[:1048576] + b"\n" + plain + \
                b"\n" + text
        if kind == "header-only":
            return head + plain
        if kind == "mixed-crlf":
            lines = data.split(b"\n")
            return b"X-Broken: mixed-crlf\n" + b"".join(
                ln + (b"\r\n" if r.random() < 0.5 else b"\n")
                for ln in lines[:-1]) + lines[-1]
        if kind == "no-separator":
            return head + plain + b"Hi %s,\n" % self.owner.first.encode() + \
                text
        if kind == "deep-nesting":
            depth = 120
            bs = [b"nest%03d%s" % (k, self.rs(_HEX, 6).encode())
                  for k in range(depth)]
            out = [head, b'Content-Type: multipart/mixed; boundary="%s"\n\n'
                   % bs[0]]
            for k in range(1, depth):
                out.append(b"--%s\nContent-Type: multipart/mixed; "
                           b'boundary="%s"\n\n' % (bs[k - 1], bs[k]))
            out.append(b"--%s\nContent-Type: text/plain\n\n" % bs[-1] + text)
            for k in reversed(range(depth)):
                out.append(b"--%s--\n" % bs[k])
            return b"".join(out)
        if kind == "bad-base64":
            b = self.boundary("gmail")
            junk = bytearray(self.b64_data(_ATTACH["jpg"][1], 8000))
            for _ in range(20):
                junk[r.randrange(len(junk))] = r.choice(b"!*$%#~")
            return mixed(b, b'Content-Type: image/jpeg; name="bad.jpg"\n'
                         b"Content-Transfer-Encoding: base64\n\n" +
                         bytes(junk) + b"==\n=A\n--" + b.encode() + b"--\n")
        raise ValueError(kind)

    # -- file names

    def name(self, t, size, vsize, host):
        r = self.r
        if self.qleft <= 0:
            self.pid += r.randint(1, 60)
            if self.pid > 4000000:
                self.pid = 1000 + self.pid % 1000
            self.q = 0
            self.qleft = r.choice((1, 1, 2, 5, 20, 100))
        self.q += 1
        self.qleft -= 1
        return "%d.M%dP%dQ%d.%s,S=%d,W=%d" % (
            t, r.randrange(1000000), self.pid, self.q, host, size, vsize)


# ---------------------------------------------------------------- flags

_FLAGS = {
    "inbox": (("", 10), ("S", 68), ("RS", 11), ("FS", 4), ("F", 1), ("PS", 2),
              ("ST", 2), ("FRS", 2)),
    "sent": (("S", 95), ("FS", 3), ("ST", 2)),
    "draft": (("DS", 80), ("D", 20)),
    "trash": (("S", 55), ("ST", 40), ("", 5)),
    "spam": (("", 45), ("S", 50), ("ST", 5)),
    "archive": (("S", 78), ("RS", 15), ("FS", 4), ("PS", 3)),
    "list": (("", 40), ("S", 52), ("FS", 5), ("RS", 3)),
}


def _pick_flags(r, profile, keywords):
    table = _FLAGS[profile]
    f = r.choices([t for t, _ in table], [w for _, w in table])[0]
    if keywords:
        kw = ""
        if "P" in f:
            kw += "a"
        if profile == "spam" and r.random() < 0.9:
            kw += "b"
        elif profile in ("inbox", "archive") and r.random() < 0.04:
            kw += "c"
        if profile in ("inbox", "archive") and r.random() < 0.10:
            kw += "d"
        if profile in ("inbox", "archive", "sent") and r.random() < 0.05:
            kw += "e"
        f += kw
    return "".join(sorted(f))


# ---------------------------------------------------------------- layout

def _folder_specs(k):
    specs = list(FOLDERS[:k])
    for n in range(len(FOLDERS), k):
        specs.append(("Misc/Folder %02d" % (n - len(FOLDERS) + 1), 1,
                      "archive", "archive"))
    return specs


def _hits(count, first, period):
    if count <= 0:
        return []
    if period == 0:
        return [count // 2]
    return list(range(min(first, count - 1), count, period))


def _layout(count, seed, specs, new_pct, broken_pct):
    """Which folder each message goes to, which INBOX messages are in new/,
    where the needles and the broken messages are."""
    r = random.Random("mkmaildir %s layout" % seed)
    weights = [INBOX_WEIGHT] + [s[1] for s in specs]
    cum = []
    acc = 0
    for w in weights:
        acc += w
        cum.append(acc)
    k = len(specs)
    folder = bytearray(count) if k < 255 else [0] * count
    for i in range(count):
        if count > k and 1 <= i <= k:
            folder[i] = i
        else:
            folder[i] = bisect.bisect(cum, r.random() * acc)
    inbox = [i for i in range(count) if folder[i] == 0]
    nnew = int(round(len(inbox) * new_pct / 100.0))
    new = set(inbox[len(inbox) - nnew:]) if nnew else set()
    needles = {}
    for word, where, first, period in NEEDLES:
        for i in _hits(count, first, period):
            needles.setdefault(i, []).append((word, where))
    keep = set(needles)
    if inbox:
        keep.update((inbox[0], inbox[-1]))
    cand = [i for i in range(count) if i not in keep]
    nbroken = min(int(round(count * broken_pct / 100.0)), len(cand))
    chosen = sorted(r.sample(cand, nbroken)) if nbroken else []
    broken = {i: BROKEN_KINDS[n % len(BROKEN_KINDS)]
              for n, i in enumerate(chosen)}
    return folder, new, needles, broken


def _role(r, kind):
    """(role of a message, mailing list) for a folder's content kind."""
    if kind == "inbox":
        role = "list" if r.random() < 0.12 else "in"
        return role, "dev" if r.random() < 0.7 else "announce"
    if kind == "trash":
        x = r.random()
        return ("in" if x < 0.7 else "sent" if x < 0.85 else "list"), "dev"
    if kind == "archive":
        return ("in" if r.random() < 0.8 else "sent"), None
    if kind.startswith("list:"):
        return "list", kind[5:]
    if kind in ("invoice", "ja"):
        return "in", None
    return kind, None          # sent, draft, spam


# ---------------------------------------------------------------- output

def _write(path, data, t):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
    os.utime(path, (t, t))


def _vsize(data):
    nl = data.count(b"\n")
    return len(data) + nl - data.count(b"\r\n")


def _create_tree(path, dirs, subscribed, keywords, t):
    if os.path.exists(os.path.join(path, "cur")):
        raise FileExistsError("%s already holds a Maildir" % path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    kwfile = "".join("%d %s\n" % (n, k) for n, k in enumerate(KEYWORDS))
    for d in dirs:
        base = os.path.join(path, d) if d != "." else path
        if d != ".":
            os.mkdir(base, 0o700)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(base, sub), mode=0o700, exist_ok=True)
        if d != ".":
            _write(os.path.join(base, "maildirfolder"), b"", t)
        if keywords:
            _write(os.path.join(base, "dovecot-keywords"), kwfile.encode(), t)
    if subscribed:
        _write(os.path.join(path, "subscriptions"),
               "".join(n + "\n" for n in subscribed).encode(), t)


def _mbox_entry(data, sender, t):
    """data as an mbox message: From_ line, >From quoting (mboxrd)."""
    if not data.endswith(b"\n"):
        data += b"\n"
    data = re.sub(rb"(?m)^(>*From )", rb">\1", data)
    env = sender if "@" in sender else "MAILER-DAEMON"
    return b"From %s %s\n%s\n" % (env.encode(),
                                  time.asctime(time.gmtime(t)).encode(), data)


def make(path, count=1000, seed=1, folders=0, new=0.0, flags=False,
         keywords=False, broken=0.0, mbox=False, sizes=DEFAULT_SIZES):
    """Write count messages to the Maildir++ tree at path (or, with mbox,
    to the mbox file path) and return the summary dict (see the module
    docstring)."""
    if count < 0 or folders < 0:
        raise ValueError("count and folders must not be negative")
    if not 0 <= new <= 100 or not 0 <= broken <= 100:
        raise ValueError("--new and --broken are percentages (0-100)")
    path = os.fspath(path)
    if mbox:
        folders, new = 0, 0.0
    specs = _folder_specs(folders)
    names = ["INBOX"] + [mutf7(s[0]) for s in specs]
    dirs = ["."] + ["." + n.replace("/", ".") for n in names[1:]]
    for n in names[1:]:
        if any(not lvl or "." in lvl for lvl in n.split("/")):
            raise ValueError("folder name %r cannot be stored" % n)
    gen = _Gen(seed, sizes)
    r = gen.r
    folder, newset, needles, broken_at = _layout(count, seed, specs, new,
                                                 broken)
    stats = {n: {"dir": d, "messages": 0, "new": 0, "bytes": 0,
                 "first": None, "last": None} for n, d in zip(names, dirs)}
    hits = {w: {} for w, _, _, _ in NEEDLES}
    kinds = {}
    flagrng = random.Random("mkmaildir %s flags" % seed)
    profiles = ["inbox"] + [s[3] for s in specs]
    ckinds = ["inbox"] + [s[2] for s in specs]
    start = EPOCH + random.Random(
        "mkmaildir %s start" % seed).randrange(30 * 86400)
    if mbox:
        if os.path.exists(path):
            raise FileExistsError("%s exists" % path)
        out = open(path, "wb")
    else:
        _create_tree(path, dirs, names[1:], keywords, start)
    total = 0
    step = max(SPAN // count, 1) if count else 1
    try:
        for i in range(count):
            f = folder[i]
            fname = names[f]
            t = start + i * SPAN // count + r.randrange(step)
            role, listname = _role(r, ckinds[f])
            nd = needles.get(i, ())
            data, mid = gen.message(i, role, t, gen.size(), nd, listname,
                                    lang="ja" if ckinds[f] == "ja" else None)
            bk = broken_at.get(i)
            if bk:
                data = gen.broken(bk, data, mid, t)
                kinds[bk] = kinds.get(bk, 0) + 1
            for w, _ in nd:
                hits[w].setdefault(fname, []).append(mid)
            st = stats[fname]
            st["messages"] += 1
            st["bytes"] += len(data)
            if st["first"] is None:
                st["first"] = mid
            st["last"] = mid
            total += len(data)
            if mbox:
                out.write(_mbox_entry(data, gen.last_sender, t))
                continue
            if t > EPOCH + SPAN * 3 // 10:
                host = "mail.example.org"
            else:
                host = "oldmail.example.org"
            base = gen.name(t, len(data), _vsize(data), host)
            fdir = path if f == 0 else os.path.join(path, dirs[f])
            if i in newset:
                st["new"] += 1
                p = os.path.join(fdir, "new", base)
            else:
                fl = ""
                if flags:
                    fl = _pick_flags(flagrng, profiles[f], keywords)
                elif keywords:
                    fl = "".join(c for c in _pick_flags(flagrng, profiles[f],
                                                        True) if c.islower())
                p = os.path.join(fdir, "cur", base + ":2," + fl)
            _write(p, data, t)
    finally:
        if mbox:
            out.close()
    if mbox:
        os.utime(path, (start + SPAN, start + SPAN))
    needle_out = []
    for word, where, _, _ in NEEDLES:
        h = hits[word]
        needle_out.append({"word": word, "where": where,
                           "count": sum(len(v) for v in h.values()),
                           "hits": h})
    return {
        "path": path,
        "format": "mbox" if mbox else "maildir",
        "seed": seed,
        "count": count,
        "total_bytes": total,
        "new": sum(s["new"] for s in stats.values()),
        "broken": sum(kinds.values()),
        "broken_kinds": kinds,
        "folders": stats,
        "inbox_first": stats["INBOX"]["first"],
        "inbox_last": stats["INBOX"]["last"],
        "owner": OWNER_ADDR,
        "needles": needle_out,
        "absent_word": ABSENT_WORD,
        "size_distribution": sizes,
        "keywords": {chr(97 + n): k for n, k in enumerate(KEYWORDS)}
        if keywords else {},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="mkmaildir.py",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", metavar="DIR",
                    help="Maildir++ root to create (omit with --mbox)")
    ap.add_argument("--count", type=int, default=1000, metavar="N",
                    help="messages in all, spread over INBOX and the "
                    "folders (default 1000)")
    ap.add_argument("--seed", type=int, default=1, metavar="S",
                    help="same seed and arguments, same bytes (default 1)")
    ap.add_argument("--folders", type=int, default=0, metavar="K",
                    help="Maildir++ folders besides INBOX (default 0)")
    ap.add_argument("--new", type=float, default=0.0, metavar="PCT",
                    help="share of INBOX (the newest) in new/ (default 0)")
    ap.add_argument("--flags", action="store_true",
                    help="realistic flags on the names in cur/")
    ap.add_argument("--keywords", action="store_true",
                    help="keyword letters a..e and a dovecot-keywords file "
                    "per folder")
    ap.add_argument("--broken", type=float, default=0.0, metavar="PCT",
                    help="share of deliberately broken messages (default 0)")
    ap.add_argument("--sizes", default=DEFAULT_SIZES, metavar="SPEC",
                    help="size buckets weight:low-high,... "
                    "(default %(default)s)")
    ap.add_argument("--mbox", metavar="FILE",
                    help="write one mbox file instead of a Maildir")
    a = ap.parse_args(argv)
    if (a.dir is None) == (a.mbox is None):
        ap.error("give DIR or --mbox FILE (one of them)")
    try:
        parse_sizes(a.sizes)
        s = make(a.mbox or a.dir, count=a.count, seed=a.seed,
                 folders=a.folders, new=a.new, flags=a.flags,
                 keywords=a.keywords, broken=a.broken,
                 mbox=a.mbox is not None, sizes=a.sizes)
    except (ValueError, OSError) as e:
        print("mkmaildir: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(s, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
