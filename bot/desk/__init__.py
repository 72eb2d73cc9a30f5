"""The labeling desk: what a photo, a tap or an admin command does, without Telegram types.

Each handler in `bot.handlers` reads its update into one of the typed requests of
`bot.desk.views`, makes one call to a topic of the desk and renders what comes back:

    desk.photos     a photo arrives; its guesses again; the "Other…" pages  (photos.py)
    desk.votes      vote, skip, undo                                          (votes.py)
    desk.review     the review queue                                          (review.py)
    desk.proposals  new labels proposed on a photo                            (proposals.py)
    desk.labels     add, rename, retire labels                                (labels.py)
    desk.model      statistics, the model's report, rollback                  (labels.py)
    desk.people     contributors, standing, bans, /forgetme                   (people.py)
    desk.crowd      voters' reliabilities, re-estimated as votes come in      (people.py)
    desk.imports    `labelbot import`                                         (imports.py)
    desk.exports    `/export`                                                 (exports.py)
    desk.insight    the campaign and the model's record, for the console      (insight.py)

Every topic shares one `DeskContext` (the store, the model, the journal, the policy);
`desk.Desk` holds them all. The package itself imports nothing, so that `bot.texts` can import
`bot.desk.views` (plain data) without importing the topics, which import `bot.texts`.
"""
