"""Every user-facing sentence the bot itself says (answers come from the actions)."""

NOT_LINKED = (
    "I can't find you among the reps I know, so I can't show any account or deal data yet. "
    "Ask your sales-ops admin to add your e-mail to salesbot (or link your Slack user), then try again."
)
NOT_LINKED_TERMINAL = "No rep with the e-mail {email} is in the store. Import reps first (`salesbot import reps FILE`)."
RASA_DOWN = (
    "I can't reach my language service right now, so I couldn't read your question. "
    "Nothing was lost: please ask again in a minute."
)
ACTIONS_DOWN = "I understood the question but couldn't fetch the numbers right now. Please try again in a minute."
STORE_DOWN = "The sales database is not answering right now, so I can't look that up. Please try again shortly."
EMPTY_MESSAGE = "Ask me about your accounts, deals or calls, e.g. *which of my accounts are slipping?* or type *help*."
TOO_LONG = "That message is {length:,} characters long; I read questions of up to {limit:,} characters. Please shorten it."
NO_REPLY = "I didn't get an answer for that. Try rephrasing, or type *help* to see what I can do."
WORKING = "Working on it…"
STACK_NOT_RUNNING = "salesbot is not running at {url}. Start it with `salesbot serve` (or `make demo`), then ask again."

# ----------------------------------------------------------------------- Slack
SLACK_PRIVATE_NOTE = "_Only you can see this: it has account data, and this channel is shared._"
SLACK_UNEXPECTED = (
    "Something went wrong on my side while handling that, and I've logged it for the admins. "
    "Please try again; if it keeps happening, ask in a DM with me."
)
SLACK_BUTTON_EXPIRED = (
    "That button no longer works (the message is out of date). Ask me again for a fresh answer."
)
SLACK_ACCOUNT_NOT_IN_BOOK = (
    "That account isn't in your book any more, so I didn't record anything for it."
)
SLACK_CONTACTED_NOTE = ":white_check_mark: {user} marked *{account}* as contacted on {date}."
SLACK_SNOOZED_NOTE = ":zzz: {user} snoozed alerts for *{account}* until {until}."
SLACK_NO_USER = (
    "This request did not say which Slack user sent it, so I can't tell whose numbers to "
    "show. Please run the command again from Slack."
)
SLACK_PITCH_NEEDS_ACCOUNT = "Which account? For example: `/sales pitch Acme`."
SLACK_HELP = """*What I can do* (in a DM, by @mentioning me, or with `/sales`):
• `/sales slipping` — your accounts that are slipping, with revenue at risk and why
• `/sales pitch Acme` — what to pitch to an account, ranked by expected value
• `/sales pipeline` — your pipeline this quarter · `/sales deals` — deals that are stuck
• `/sales forecast` — your forecast · `/sales leads` — which leads to call first
• `/sales digest` — the team digest (managers) · `/sales coach` — a review of your last call
• Share a call transcript with me for a review · `/sales coach help` — live prompts during calls, trackers
• `/sales <anything else>` — ask in your own words, e.g. `/sales what's my win rate?`
Answers about accounts asked in a shared channel are shown only to you."""

HOME_TITLE = "Your sales at a glance"
HOME_NOT_LINKED = (
    "I don't know which rep you are yet, so there is nothing to show here. "
    "Ask your sales-ops admin to add your e-mail to salesbot (or link your Slack user)."
)
HOME_STORE_DOWN = "The sales database is not answering right now. Open this tab again in a minute."
HOME_SLIPPING_TITLE = "Accounts slipping"
HOME_SLIPPING_NONE = "No account in your book is slipping. :tada:"
HOME_PITCH_TITLE = "Best pitches"
HOME_PITCH_NONE = "No pitch suggestions yet."
HOME_PIPELINE_TITLE = "Pipeline at a glance"
HOME_PIPELINE_NONE = "No open deals."
HOME_NO_SCORES = (
    "Accounts have not been scored yet, so slipping accounts and pitches are not available. "
    "An admin can run `salesbot score` (it also runs nightly when scheduled)."
)
HOME_SCORED_AS_OF = (
    "Scores as of {date} · pipeline as of {today} · ask me anything in a DM or with `/sales`"
)

# -------------------------------------------------------------------- coaching
COACH_HELP = """*Call coaching*
• Share a call transcript (text, Markdown, WebVTT, SRT or JSON) with me in a DM, or post it in the call-review channel: I reply in its thread with the flags by category, quotes with timestamps, your call metrics and what to do next.
• `/sales coach` — the review of your last call · `/sales coach Acme` — of your last call with Acme
• `/sales coach live Acme` — a link for live prompts during a call with Acme (your transcription tool streams the call to it)
• `/sales tracker add pricing "too pricey" [what to tell the rep]` — managers add their own key phrases; `/sales tracker list` shows them"""
COACH_NO_CALL = "You have no reviewed call yet.\n" + COACH_HELP
COACH_FILE_TOO_LARGE = (
    "*{name}* is {size:.1f} MB; I review transcripts of up to {limit:.0f} MB (tens of hours "
    "of speech). Split it into one file per call and share those."
)
COACH_FILE_RECORDING = (
    "*{name}* is a recording. I review transcripts: export the call's transcript as text, "
    "Markdown, WebVTT, SRT or JSON and share that file."
)
COACH_FILE_UNREADABLE = "I couldn't review *{name}*: {problem}."
COACH_FILE_DOWNLOAD_FAILED = (
    "I couldn't download *{name}* from Slack, so there is no review. Share it again in a "
    "minute; if it keeps failing, ask your admin to check that salesbot has the files:read scope."
)
COACH_LIVE_READY = """Live coaching is ready{account_part}. Point your transcription tool (or overlay) at
`{url}`
with the header `Authorization: Bearer {token}` (or add `?token={token}` to the URL).
Send each utterance as JSON, e.g. `{{"speaker": "Kevin", "text": "The price is too high.", "start": 62}}`, and `{{"type": "end"}}` when the call is over: the call is then stored with its flags.
Prompts appear {where} and come back on the socket. This link is for this call only and works until {expires} UTC."""
COACH_LIVE_HERE = "here (only to you)"
COACH_LIVE_IN_DM = "in our DM"
COACH_LIVE_ACCOUNT_NOT_FOUND = (
    'I couldn\'t find an account called "{account}" in your book. Try `/sales coach live` '
    "without a name, or the account's name as it appears in the CRM."
)
TRACKER_USAGE = (
    'Add a tracker with `/sales tracker add <category> "<phrase>" [what to tell the rep]`, '
    'e.g. `/sales tracker add pricing "too pricey" Ask what they compare us with.` '
    "Categories: pricing, budget, competitor, decision_process, timeline, next_steps, "
    "churn_risk, or a new one in snake_case. `/sales tracker list` shows the trackers added."
)
TRACKER_MANAGERS_ONLY = (
    "Only managers and admins can add trackers, so nothing was added. "
    "Ask your manager to add it with `/sales tracker add`."
)
TRACKER_INVALID = "I couldn't add that tracker: {problem}. Nothing was stored."
TRACKER_ADDED = (
    "Tracker {verb}: *{category}* listens for “{phrase}” ({side} side) and tells the rep: "
    "{prompt}\nIt applies to calls reviewed from now on and to live calls started from now on."
)
TRACKER_DEFAULT_PROMPT = "“{phrase}” came up: ask what is behind it before you answer."
TRACKER_LIST_EMPTY = "No trackers have been added yet; the shipped ones are in use. " + (
    'Managers add one with `/sales tracker add <category> "<phrase>"`.'
)
TRACKER_LIST_HEADER = "*Trackers added by managers* (besides the shipped ones):"
