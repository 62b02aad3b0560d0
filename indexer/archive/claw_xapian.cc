/* claw_xapian.cc - the search index and the query language.
 *
 * The only file that includes <xapian.h>. Every entry point catches
 * Xapian::Error, std::bad_alloc and our own QueryError, and returns a
 * status: no exception crosses into C.
 *
 * The query language is parsed here by hand rather than with
 * Xapian::QueryParser, so that its limits (length, nesting, number of
 * terms, wildcard expansion) and its errors are ours, and so that field
 * values are normalised exactly as terms.c wrote them.
 */
#include "build-config.h"

#include "claw_xapian.h"
#include "claw.h"

#include <xapian.h>

#include <cerrno>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <new>
#include <sysexits.h>
#include <string>
#include <mutex>
#include <vector>

namespace {

/* Limits that keep one query from taking the server down. */
const size_t MAX_QUERY_BYTES = 8192;
const int MAX_DEPTH = 32;
const size_t MAX_LEAVES = 256;
const Xapian::termcount MAX_EXPANSION = 1000;

struct QueryError {
    std::string what;
};

enum Kind { TEXT, SUBJECT, ADDRESS, EXACT, URL, HOST, RANGE_DATE, RANGE_ARRIVAL, RANGE_SIZE, HEADER, IOC };

struct Field {
    const char *name;
    const char *prefix;
    Kind kind;
};

const Field fields[] = {
    {"from", "XF", ADDRESS},       {"to", "XT", ADDRESS},          {"cc", "XC", ADDRESS},
    {"rcpt", "XR", ADDRESS},       {"bcc", "XR", ADDRESS},         {"replyto", "XRT", ADDRESS},
    {"reply-to", "XRT", ADDRESS},  {"mailfrom", "XE", ADDRESS},    {"envfrom", "XE", ADDRESS},
    {"subject", "S", SUBJECT},     {"body", "", TEXT},             {"attachment", "XA", ADDRESS},
    {"filename", "XA", ADDRESS},   {"type", "XTYPE", EXACT},       {"sha256", "XSHA", EXACT},
    {"hash", "XSHA", EXACT},       {"url", "XURL", URL},           {"host", "XHOST", HOST},
    {"domain", "XDOM", HOST},      {"ip", "XIP", EXACT},           {"helo", "XHELO", EXACT},
    {"msgid", "XMID", EXACT},      {"message-id", "XMID", EXACT},  {"id", "XID", EXACT},
    {"action", "XACT", EXACT},     {"verdict", "XACT", EXACT},     {"rule", "XRULE", EXACT},
    {"auth", "XAUTH", EXACT},      {"authclaim", "XAUTHC", EXACT}, {"date", "", RANGE_DATE},
    {"received", "", RANGE_ARRIVAL}, {"size", "", RANGE_SIZE},     {"header", "XHDR", HEADER},
    {"ioc", "", IOC},              {"state", "XSTATE", EXACT},
};

/* Who says what ioc:ID matches (claw_index_set_ioc_terms). */
struct IocTerms {
    claw_index_ioc_terms_fn *fn = nullptr;
    void *ctx = nullptr;
};

const Field *
find_field(const std::string &name)
{
    for (const Field &f : fields)
        if (name == f.name)
            return &f;
    return nullptr;
}

std::string
lower(const std::string &s)
{
    char *t = claw_term("", s.data(), s.size());
    std::string r(t);
    free(t);
    return r;
}

struct WordsCtx {
    std::vector<std::string> *out;
};

void
collect_word(void *ctx, const char *w, size_t n)
{
    static_cast<WordsCtx *>(ctx)->out->emplace_back(w, n);
}

std::vector<std::string>
words(const std::string &s)
{
    std::vector<std::string> v;
    WordsCtx c = {&v};
    claw_words(s.data(), s.size(), collect_word, &c);
    return v;
}

/* ---------------------------------------------------------------------
 * Phrases without positions
 *
 * An index made with [archive] positions = no has no word positions for
 * the body. A phrase there matches the documents holding all its words
 * (walked together, as OP_AND would) that the caller's check confirms
 * against the stored message. As a posting source it is exact wherever it
 * sits in the query, under OR and NOT too.
 * ------------------------------------------------------------------ */

struct Checker {
    claw_phrase_check_t fn = nullptr;
    void *ctx = nullptr;
    std::vector<std::string> shard_uuids; /* which shard a database is */
    std::vector<std::string> amend_uuids; /* ... or which shard's amendments */
};

class PhraseSource : public Xapian::PostingSource {
  public:
    PhraseSource(const std::string &prefix, const std::vector<std::string> &words,
                 const Checker *check)
        : prefix_(prefix), words_(words), check_(check)
    {
    }

    PostingSource *
    clone() const override
    {
        return new PhraseSource(prefix_, words_, check_);
    }

    void
    init(const Xapian::Database &db) override
    {
        db_ = db;
        its_.clear();
        ends_.clear();
        for (const std::string &w : words_) {
            its_.push_back(db.postlist_begin(prefix_ + w));
            ends_.push_back(db.postlist_end(prefix_ + w));
        }
        /* Which shard: store docid = (local - 1) * n + shard + 1. */
        shard_ = 0;
        n_shards_ = 1;
        if (check_ && check_->shard_uuids.size() > 1) {
            n_shards_ = (unsigned)check_->shard_uuids.size();
            std::string u = db.get_uuid();
            for (unsigned i = 0; i < n_shards_; i++)
                if (check_->shard_uuids[i] == u ||
                    (i < check_->amend_uuids.size() && check_->amend_uuids[i] == u))
                    shard_ = i;
        }
        Xapian::doccount tf = db.get_doccount();
        for (const std::string &w : words_)
            tf = std::min(tf, db.get_termfreq(prefix_ + w));
        set_maxweight(0);
        max_ = tf;
        started_ = false;
        at_end_ = false;
        did_ = 0;
        batch_.clear();
        pos_ = 0;
        want_ = 1;
        walked_ = 0;
        exhausted_ = false;
    }

    Xapian::doccount get_termfreq_min() const override { return 0; }
    Xapian::doccount get_termfreq_est() const override { return max_ / 2; }
    Xapian::doccount get_termfreq_max() const override { return max_; }

    void
    next(double) override
    {
        advance(did_ + 1);
    }

    void
    skip_to(Xapian::docid did, double) override
    {
        if (!started_ || did > did_)
            advance(std::max(did, did_ + 1));
    }

    bool at_end() const override { return at_end_; }
    Xapian::docid get_docid() const override { return did_; }
    std::string get_description() const override { return "PhraseSource(" + prefix_ + ")"; }

  private:
    static constexpr size_t kMaxBatch = 64;
    std::string prefix_;
    std::vector<std::string> words_;
    const Checker *check_;
    Xapian::Database db_;
    std::vector<Xapian::PostingIterator> its_, ends_;
    unsigned shard_ = 0, n_shards_ = 1;
    Xapian::doccount max_ = 0;
    bool started_ = false, at_end_ = false;
    Xapian::docid did_ = 0;
    /* Candidates (documents with every word) checked as a batch, ahead of
     * the matcher: it grows while the matcher takes them in turn, and
     * starts again at one when it skips past some unseen. */
    std::vector<Xapian::docid> batch_;
    bool ok_[kMaxBatch] = {};
    size_t pos_ = 0, want_ = 1;
    Xapian::docid walked_ = 0; /* the AND walk has passed every docid below */
    bool exhausted_ = false;   /* ... and reached the end of a word's postings */

    void
    advance(Xapian::docid from)
    {
        started_ = true;
        bool skipped = false;
        while (pos_ < batch_.size() && batch_[pos_] < from) {
            pos_++;
            skipped = true;
        }
        for (;;) {
            while (pos_ < batch_.size()) {
                size_t i = pos_++;
                if (ok_[i]) {
                    did_ = batch_[i];
                    return;
                }
            }
            if (skipped)
                want_ = 1;
            else if (!batch_.empty() && want_ < kMaxBatch)
                want_ *= 2;
            skipped = false;
            if (!gather(std::max(from, walked_))) {
                at_end_ = true;
                return;
            }
            confirm();
        }
    }

    /* The next want_ documents at or after @from with every word. */
    bool
    gather(Xapian::docid from)
    {
        batch_.clear();
        pos_ = 0;
        if (its_.empty() || exhausted_)
            return false;
        Xapian::docid want = from;
        while (batch_.size() < want_) {
            bool agree = true;
            for (size_t i = 0; i < its_.size(); i++) {
                its_[i].skip_to(want);
                if (its_[i] == ends_[i]) {
                    exhausted_ = true;
                    return !batch_.empty();
                }
                if (*its_[i] != want) {
                    want = *its_[i];
                    agree = false;
                }
            }
            if (!agree)
                continue;
            batch_.push_back(want);
            walked_ = ++want;
        }
        return true;
    }

    void
    confirm()
    {
        if (!check_ || !check_->fn) {
            std::fill(ok_, ok_ + batch_.size(), true); /* all the words */
            return;
        }
        std::vector<const char *> w;
        for (const std::string &x : words_)
            w.push_back(x.c_str());
        uint64_t docids[kMaxBatch];
        for (size_t i = 0; i < batch_.size(); i++)
            docids[i] = (uint64_t)(batch_[i] - 1) * n_shards_ + shard_ + 1;
        check_->fn(check_->ctx, docids, batch_.size(), prefix_.c_str(), w.data(), w.size(),
                   ok_);
    }
};

/* The documents of a shard that have a newer version among its
 * amendments (see claw_index_replace): a search of the shards leaves them
 * out, and the amendments' search gives the new version. */
class MaskSource : public Xapian::PostingSource {
  public:
    MaskSource(const Checker *check, const std::vector<Xapian::Database> *amends)
        : check_(check), amends_(amends)
    {
    }

    PostingSource *
    clone() const override
    {
        return new MaskSource(check_, amends_);
    }

    void
    init(const Xapian::Database &db) override
    {
        set_maxweight(0);
        started_ = false;
        n_ = 0;
        have_ = false;
        std::string u = db.get_uuid();
        for (size_t i = 0; i < check_->shard_uuids.size() && i < amends_->size(); i++)
            if (check_->shard_uuids[i] == u) {
                const Xapian::Database &a = (*amends_)[i];
                n_ = a.get_doccount();
                if (n_) {
                    it_ = a.postlist_begin("");
                    end_ = a.postlist_end("");
                    have_ = true;
                }
            }
    }

    Xapian::doccount get_termfreq_min() const override { return 0; }
    Xapian::doccount get_termfreq_est() const override { return n_; }
    Xapian::doccount get_termfreq_max() const override { return n_; }

    void
    next(double) override
    {
        if (!have_)
            return;
        if (started_)
            ++it_;
        started_ = true;
    }

    void
    skip_to(Xapian::docid did, double) override
    {
        if (!have_)
            return;
        started_ = true;
        it_.skip_to(did);
    }

    bool at_end() const override { return !have_ || (started_ && it_ == end_); }
    Xapian::docid get_docid() const override { return *it_; }
    std::string get_description() const override { return "MaskSource"; }

  private:
    const Checker *check_;
    const std::vector<Xapian::Database> *amends_;
    Xapian::PostingIterator it_, end_;
    Xapian::doccount n_ = 0;
    bool started_ = false, have_ = false;
};

/* ---------------------------------------------------------------------
 * Dates and sizes
 * ------------------------------------------------------------------ */

/* @s as seconds since the epoch (UTC); @upper picks the end of the period
 * it names (2026-02 .. means up to the last second of February). */
bool
parse_date(const std::string &s, bool upper, double *out)
{
    time_t now = time(nullptr);
    if (s == "now") {
        *out = (double)now;
        return true;
    }
    if (s == "today" || s == "yesterday") {
        time_t day = now - now % 86400 - (s == "yesterday" ? 86400 : 0);
        *out = (double)(upper ? day + 86399 : day);
        return true;
    }
    /* Relative: 7d, 2w, 3m (months of 30 days), 1y, 12h: that long ago. */
    char unit = 0;
    long n = 0;
    int used = 0;
    if (sscanf(s.c_str(), "%ld%c%n", &n, &unit, &used) == 2 && (size_t)used == s.size() &&
        n >= 0 && n < 100000 && strchr("hdwmy", unit)) {
        long mul = unit == 'h' ? 3600 : unit == 'd' ? 86400 : unit == 'w' ? 604800
                   : unit == 'm' ? 2592000 : 31536000;
        *out = (double)(now - n * mul);
        return true;
    }
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, se = 0;
    int parts = 0;
    used = 0;
    const char *c = s.c_str();
    if (sscanf(c, "%4d%n", &y, &used) == 1 && used == 4) {
        parts = 1;
        c += used;
        if (*c == '-' && sscanf(c, "-%2d%n", &mo, &used) == 1 && used == 3) {
            parts = 2;
            c += used;
            if (*c == '-' && sscanf(c, "-%2d%n", &d, &used) == 1 && used == 3) {
                parts = 3;
                c += used;
                if ((*c == 'T' || *c == 't') && sscanf(c + 1, "%2d:%2d%n", &h, &mi, &used) == 2) {
                    parts = 4;
                    c += 1 + used;
                    if (*c == ':' && sscanf(c, ":%2d%n", &se, &used) == 1) {
                        parts = 5;
                        c += used;
                    }
                }
            }
        }
    }
    if (!parts || *c || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || se > 60)
        return false;
    struct tm tm = {};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (upper) {
        /* The last second of the period named. */
        struct tm e = tm;
        switch (parts) {
        case 1: e.tm_year++; break;
        case 2: e.tm_mon++; break;
        case 3: e.tm_mday++; break;
        case 4: e.tm_min++; break;
        default: e.tm_sec++; break;
        }
        t = timegm(&e) - 1;
    }
    *out = (double)t;
    return true;
}

/* ---------------------------------------------------------------------
 * The parser
 * ------------------------------------------------------------------ */

enum Tok { T_END, T_LPAREN, T_RPAREN, T_AND, T_OR, T_NOT, T_WORD };

struct Token {
    Tok type;
    std::string text;   /* the word as written (quotes removed) */
    std::string field;  /* for field:value */
    bool has_field;
    bool quoted;        /* the value was in quotes */
    bool negated;       /* written with a leading '-' */
    size_t col;
};

class Parser {
  public:
    explicit Parser(const std::string &q, bool body_positions = true,
                    const Checker *check = nullptr, const IocTerms *iocs = nullptr)
        : q_(q), body_positions_(body_positions), check_(check), iocs_(iocs)
    {
    }

    Xapian::Query
    parse()
    {
        if (q_.size() > MAX_QUERY_BYTES)
            fail("the query is longer than " + std::to_string(MAX_QUERY_BYTES) + " bytes", 0);
        next();
        if (tok_.type == T_END)
            fail("empty query", 0);
        Xapian::Query q = parse_or(0);
        if (tok_.type == T_RPAREN)
            fail("')' without '('", tok_.col);
        if (tok_.type != T_END)
            fail("unexpected '" + tok_.text + "'", tok_.col);
        return q;
    }

  private:
    const std::string &q_;
    bool body_positions_;
    const Checker *check_;
    const IocTerms *iocs_;
    size_t at_ = 0;
    Token tok_;
    size_t leaves_ = 0;

    [[noreturn]] void
    fail(const std::string &why, size_t col)
    {
        throw QueryError{col ? why + " (at column " + std::to_string(col) + ")" : why};
    }

    /* A quoted string starting at q_[at_] == '"'; at_ moves past it. */
    std::string
    quoted()
    {
        size_t start = at_++;
        std::string s;
        while (at_ < q_.size() && q_[at_] != '"')
            s += q_[at_++];
        if (at_ >= q_.size())
            fail("unterminated quote", start + 1);
        at_++;
        return s;
    }

    void
    next()
    {
        while (at_ < q_.size() && isspace((unsigned char)q_[at_]))
            at_++;
        tok_ = Token();
        tok_.col = at_ + 1;
        if (at_ >= q_.size()) {
            tok_.type = T_END;
            return;
        }
        char c = q_[at_];
        if (c == '(' || c == ')') {
            tok_.type = c == '(' ? T_LPAREN : T_RPAREN;
            tok_.text = c;
            at_++;
            return;
        }
        tok_.type = T_WORD;
        if (c == '-' && at_ + 1 < q_.size() && !isspace((unsigned char)q_[at_ + 1]) &&
            q_[at_ + 1] != ')') {
            tok_.negated = true;
            at_++;
        } else if (c == '+' && at_ + 1 < q_.size() && !isspace((unsigned char)q_[at_ + 1])) {
            at_++;
        }
        if (q_[at_] == '"') {
            tok_.text = quoted();
            tok_.quoted = true;
            return;
        }
        size_t start = at_;
        while (at_ < q_.size() && !isspace((unsigned char)q_[at_]) && q_[at_] != '(' &&
               q_[at_] != ')' && q_[at_] != '"')
            at_++;
        std::string w = q_.substr(start, at_ - start);
        if (!tok_.negated && (w == "AND" || w == "OR" || w == "NOT")) {
            tok_.type = w == "AND" ? T_AND : w == "OR" ? T_OR : T_NOT;
            tok_.text = w;
            return;
        }
        /* field:value, field:"quoted value" */
        size_t colon = w.find(':');
        if (colon != std::string::npos && colon > 0) {
            std::string name = w.substr(0, colon);
            bool fieldlike = true;
            for (char ch : name)
                if (!isalnum((unsigned char)ch) && ch != '-' && ch != '_')
                    fieldlike = false;
            if (fieldlike) {
                tok_.has_field = true;
                tok_.field = lower(name);
                tok_.text = w.substr(colon + 1);
                if (tok_.text.empty() && at_ < q_.size() && q_[at_] == '"') {
                    tok_.text = quoted();
                    tok_.quoted = true;
                }
                return;
            }
        }
        tok_.text = w;
    }

    Xapian::Query
    parse_or(int depth)
    {
        Xapian::Query q = parse_and(depth);
        while (tok_.type == T_OR) {
            next();
            if (tok_.type == T_END || tok_.type == T_RPAREN || tok_.type == T_OR)
                fail("OR needs something after it", tok_.col);
            q = Xapian::Query(Xapian::Query::OP_OR, q, parse_and(depth));
        }
        return q;
    }

    Xapian::Query
    parse_and(int depth)
    {
        std::vector<Xapian::Query> pos, neg;
        while (tok_.type != T_END && tok_.type != T_RPAREN && tok_.type != T_OR) {
            if (tok_.type == T_AND) {
                next();
                if (tok_.type == T_END || tok_.type == T_RPAREN || tok_.type == T_OR ||
                    tok_.type == T_AND)
                    fail("AND needs something after it", tok_.col);
                continue;
            }
            bool negate = false;
            while (tok_.type == T_NOT) {
                negate = !negate;
                next();
                if (tok_.type == T_END || tok_.type == T_RPAREN || tok_.type == T_OR ||
                    tok_.type == T_AND)
                    fail("NOT needs something after it", tok_.col);
            }
            if (tok_.type == T_WORD && tok_.negated)
                negate = !negate;
            Xapian::Query q = parse_primary(depth);
            (negate ? neg : pos).push_back(q);
        }
        if (pos.empty() && neg.empty())
            fail("expected a search term", tok_.col);
        Xapian::Query p = pos.empty() ? Xapian::Query::MatchAll
                                      : Xapian::Query(Xapian::Query::OP_AND, pos.begin(), pos.end());
        if (neg.empty())
            return p;
        return Xapian::Query(Xapian::Query::OP_AND_NOT, p,
                             Xapian::Query(Xapian::Query::OP_OR, neg.begin(), neg.end()));
    }

    Xapian::Query
    parse_primary(int depth)
    {
        if (tok_.type == T_LPAREN) {
            if (depth + 1 > MAX_DEPTH)
                fail("parentheses nested deeper than " + std::to_string(MAX_DEPTH), tok_.col);
            size_t col = tok_.col;
            next();
            if (tok_.type == T_RPAREN)
                fail("empty parentheses", col);
            Xapian::Query q = parse_or(depth + 1);
            if (tok_.type != T_RPAREN)
                fail("'(' without ')'", col);
            next();
            return q;
        }
        if (tok_.type != T_WORD)
            fail("unexpected '" + tok_.text + "'", tok_.col);
        Token t = tok_;
        next();
        if (++leaves_ > MAX_LEAVES)
            fail("more than " + std::to_string(MAX_LEAVES) + " search terms", t.col);
        return leaf(t);
    }

    Xapian::Query
    wildcard(const std::string &prefix, const std::string &stem, size_t min, size_t col)
    {
        if (stem.size() < min)
            fail("a wildcard needs at least " + std::to_string(min) +
                     " characters before '*'",
                 col);
        return Xapian::Query(Xapian::Query::OP_WILDCARD, prefix + stem, MAX_EXPANSION,
                             Xapian::Query::WILDCARD_LIMIT_ERROR);
    }

    Xapian::Query
    text(const std::string &prefix, const Token &t, bool phrase_ok)
    {
        std::string v = t.text;
        if (!t.quoted && v == "*")
            fail("'*' alone would match everything", t.col);
        bool wild = !t.quoted && v.size() > 1 && v.back() == '*';
        if (wild)
            v.pop_back();
        if (v.find('*') != std::string::npos && !t.quoted)
            fail("'*' is only allowed at the end of a word", t.col);
        std::vector<std::string> w = words(v);
        if (w.empty())
            fail("'" + t.text + "' has no words to search for", t.col);
        if (wild && w.size() == 1)
            return wildcard(prefix, w[0], 2, t.col);
        std::vector<Xapian::Query> qs;
        for (size_t i = 0; i < w.size(); i++) {
            if (wild && i + 1 == w.size())
                qs.push_back(wildcard(prefix, w[i], 2, t.col));
            else
                qs.push_back(Xapian::Query(prefix + w[i]));
        }
        if (qs.size() == 1)
            return qs[0];
        if (phrase_ok && !wild) {
            Xapian::Query phrase =
                (prefix.empty() || prefix == "S") && !body_positions_
                    ? Xapian::Query((new PhraseSource(prefix, w, check_))->release())
                    : Xapian::Query(Xapian::Query::OP_PHRASE, qs.begin(), qs.end(), qs.size());
            /* Free text that is one token of several words (report.docm,
             * invoice_2026.pdf) may be an attachment's name as well. */
            if (prefix.empty() && !t.quoted && v.find(' ') == std::string::npos) {
                char *name = claw_term("XA", v.data(), v.size());
                Xapian::Query q(Xapian::Query::OP_OR, phrase, Xapian::Query(std::string(name)));
                free(name);
                return q;
            }
            return phrase;
        }
        return Xapian::Query(Xapian::Query::OP_AND, qs.begin(), qs.end());
    }

    /* libclaw's normaliser for a url:, host: or domain: value. */
    typedef claw_status_t (*Normaliser)(const char *raw, size_t len, char **out);

    Xapian::Query
    exact(const std::string &prefix, const Token &t, Normaliser normalise = nullptr)
    {
        std::string v = t.text;
        if (!t.quoted && v == "*")
            fail("'" + t.field + ":*' would match everything: put at least 3 characters "
                 "before '*'", t.col);
        if (!t.quoted && v.size() > 1 && v.back() == '*') {
            v.pop_back();
            if (v.find('*') != std::string::npos)
                fail("'*' is only allowed at the end", t.col);
            std::string term = lower(v);
            if (prefix.size() + term.size() > 200)
                fail("the text before '*' is too long", t.col);
            return wildcard(prefix, term, 3, t.col);
        }
        if (v.empty())
            fail("'" + t.field + ":' needs a value", t.col);
        /* The index holds links as the model normalised them: a value read
         * the same way finds every spelling of one place. One that is no
         * URL or host name is looked up as written (and finds nothing). */
        char *normal = nullptr;
        if (normalise && normalise(v.data(), v.size(), &normal) == CLAW_STATUS_SUCCESS)
            v = normal;
        claw_free(normal);
        char *term = claw_term(prefix.c_str(), v.data(), v.size());
        Xapian::Query q{std::string(term)};
        free(term);
        return q;
    }

    Xapian::Query
    range(Xapian::valueno slot, Kind kind, const Token &t)
    {
        std::string v = t.text;
        size_t dots = v.find("..");
        std::string lo = dots == std::string::npos ? v : v.substr(0, dots);
        std::string hi = dots == std::string::npos ? v : v.substr(dots + 2);
        if (lo.empty() && hi.empty())
            fail("'" + t.field + ":' needs a value or a range a..b", t.col);
        double a = 0, b = 0;
        auto parse_one = [&](const std::string &s, bool upper, double *out) {
            if (kind == RANGE_SIZE) {
                /* The configuration's own size reader: one set of units. */
                uint64_t bytes = 0;
                if (const char *why = claw_size_parse(s.c_str(), &bytes))
                    fail("'" + s + "' is not a size: " + why, t.col);
                *out = (double)bytes;
            } else if (!parse_date(s, upper, out)) {
                fail("'" + s + "' is not a date (YYYY, YYYY-MM, YYYY-MM-DD, "
                               "YYYY-MM-DDTHH:MM, today, 7d)",
                     t.col);
            }
        };
        if (!lo.empty())
            parse_one(lo, false, &a);
        if (!hi.empty())
            parse_one(hi, true, &b);
        if (lo.empty())
            return Xapian::Query(Xapian::Query::OP_VALUE_LE, slot, Xapian::sortable_serialise(b));
        if (hi.empty())
            return Xapian::Query(Xapian::Query::OP_VALUE_GE, slot, Xapian::sortable_serialise(a));
        if (a > b)
            fail("the range '" + v + "' ends before it starts", t.col);
        return Xapian::Query(Xapian::Query::OP_VALUE_RANGE, slot, Xapian::sortable_serialise(a),
                             Xapian::sortable_serialise(b));
    }

    /* ioc:ID: the messages a hunt of the store's indicator ID finds, by
     * the same exact terms (an IP range: each address in the index). */
    Xapian::Query
    ioc(const Token &t)
    {
        if (!iocs_ || !iocs_->fn)
            fail("ioc: needs the archive's indicators (claw search)", t.col);
        char **terms = nullptr, *why = nullptr;
        if (!iocs_->fn(iocs_->ctx, t.text.c_str(), &terms, &why)) {
            std::string w = why ? why : "no such indicator";
            free(why);
            fail("ioc:" + t.text + ": " + w, t.col);
        }
        std::vector<Xapian::Query> any;
        for (char **p = terms; *p; p++) {
            any.emplace_back(*p);
            free(*p);
        }
        free(terms);
        return Xapian::Query(Xapian::Query::OP_OR, any.begin(), any.end());
    }

    Xapian::Query
    leaf(const Token &t)
    {
        if (!t.has_field) {
            if (!t.quoted && t.text.find(':') != std::string::npos)
                fail("unknown field in '" + t.text + "' (quote it to search for the text)",
                     t.col);
            return text("", t, true);
        }
        const Field *f = find_field(t.field);
        if (!f) {
            std::string hint = t.field == "http" || t.field == "https"
                                   ? " (for a link, write url:\"" + t.field + ":" + t.text + "\")"
                                   : " (the fields are in claw(1), QUERY LANGUAGE)";
            fail("unknown field '" + t.field + "'" + hint, t.col);
        }
        switch (f->kind) {
        case TEXT: return text(f->prefix, t, true);
        case SUBJECT: return text(f->prefix, t, true);
        case ADDRESS: {
            /* An address or domain is one term; words (a display name,
             * "John Smith") each match a word of the name. */
            const std::string &v = t.text;
            if (v.find('@') != std::string::npos || v.find('.') != std::string::npos ||
                (v.size() > 1 && v.back() == '*'))
                return exact(f->prefix, t);
            return text(f->prefix, t, false);
        }
        case EXACT: return exact(f->prefix, t);
        case URL: return exact(f->prefix, t, claw_url_normalise);
        case HOST: return exact(f->prefix, t, claw_host_normalise);
        case RANGE_DATE: return range(CLAW_SLOT_DATE, RANGE_DATE, t);
        case RANGE_ARRIVAL: return range(CLAW_SLOT_ARRIVAL, RANGE_DATE, t);
        case RANGE_SIZE: return range(CLAW_SLOT_SIZE, RANGE_SIZE, t);
        case IOC: return ioc(t);
        case HEADER: {
            /* header:NAME=value */
            size_t eq = t.text.find('=');
            if (eq == std::string::npos || eq == 0)
                fail("write header:NAME=value", t.col);
            Token v = t;
            v.text = t.text.substr(eq + 1);
            std::string prefix = "XHDR" + lower(t.text.substr(0, eq)) + ":";
            if (v.text.find(' ') == std::string::npos && !v.quoted)
                return Xapian::Query(Xapian::Query::OP_OR, exact(prefix, v), text(prefix, v, false));
            return text(prefix, v, false);
        }
        }
        fail("internal error", t.col);
    }
};

} // namespace

/* An index is split into shards (DIR/shard0, shard1, ..., their number in
 * DIR/shards) so that each can be written by its own thread. Store docid d
 * lives in shard (d-1) % n as document (d-1) / n + 1, which is exactly how
 * Xapian numbers documents of n databases searched together: the combined
 * docid is the store's.
 *
 * A shard keeps no term lists (Xapian's DB_NO_TERMLIST): they were half the
 * index, and Xapian reads them only to take a document's old terms out when
 * it is replaced. A message is indexed again when it changes (another
 * delivery, a new verdict), which is rare: its new version goes to the
 * shard's amendments (DIR/amendK, an ordinary Xapian database with term
 * lists, same docids), and a search leaves the old version out of the
 * shard (MaskSource) and searches the amendments beside it. A shard made
 * before this, with its term lists, is still replaced in place. */
struct claw_index {
    Xapian::Database *db = nullptr;
    Xapian::WritableDatabase *wdb = nullptr;
    Xapian::WritableDatabase *amend_w = nullptr; /* write: this shard's amendments */
    bool termlists = true;                       /* write: the shard has term lists */
    std::vector<Xapian::Database> amends;        /* read: each shard's (maybe empty) */
    Xapian::Database *amend_db = nullptr;        /* read: all of them; none if empty */
    std::vector<Xapian::Database> shards; /* read: each one, for metadata */
    unsigned shard = 0, n_shards = 1;      /* write: which one */
    bool positions = true;                 /* read: body positions kept */
    Checker check;
    std::string dir;
    std::string error;
    std::string repaired; /* write: why a damaged shard was made again */
    bool damaged = false; /* write: a write found blocks that do not read back */
    bool stale_fd = false; /* write: Xapian holds a number it closed (see release_writable) */
    bool write_failed = false; /* write: its uncommitted changes are not to be committed */
    IocTerms iocs;             /* read: what ioc:ID means */
    bool show_quarantined = false; /* read: claw_index_show_quarantined() */
};

static unsigned
read_shards(const std::string &dir)
{
    FILE *f = fopen((dir + "/shards").c_str(), "r");
    unsigned n = 0;
    if (f) {
        if (fscanf(f, "%u", &n) != 1)
            n = 0;
        fclose(f);
    }
    return n;
}

static char *
dup_error(const std::string &s)
{
    return strdup(s.c_str());
}

static bool damaged(const Xapian::Error &e);
static bool leaves_stale_fd(const Xapian::Error &e);

#define CATCH(ix, what)                                                                           \
    catch (const Xapian::DatabaseLockError &e)                                                    \
    {                                                                                             \
        (ix)->error = std::string(what) + ": the index is locked by another process (" +          \
                      e.get_msg() + ")";                                                          \
        return CLAW_STATUS_IO_ERROR;                                                              \
    }                                                                                             \
    catch (const Xapian::DatabaseNotFoundError &e)                                                \
    {                                                                                             \
        (ix)->error = std::string(what) + ": no index (" + e.get_msg() + ")";                     \
        return CLAW_STATUS_NOT_FOUND;                                                             \
    }                                                                                             \
    catch (const Xapian::Error &e)                                                                \
    {                                                                                             \
        (ix)->error = std::string(what) + ": " + e.get_description();                             \
        if ((ix)->wdb && damaged(e))                                                              \
            (ix)->damaged = true;                                                                 \
        if ((ix)->wdb && leaves_stale_fd(e))                                                      \
            (ix)->stale_fd = true;                                                                \
        if ((ix)->wdb)                                                                            \
            (ix)->write_failed = true;                                                            \
        return CLAW_STATUS_IO_ERROR;                                                              \
    }                                                                                             \
    catch (const std::bad_alloc &)                                                                \
    {                                                                                             \
        return CLAW_STATUS_OUT_OF_MEMORY;                                                         \
    }

static std::string
shard_path(const std::string &dir, const char *kind, unsigned i)
{
    return dir + "/" + kind + std::to_string(i);
}

/* The shards' amendments, for reading: one database of them all, numbered
 * as the shards are; none when no shard has any (each shard's writer makes
 * its amendments' database when it opens the shard, before it can amend
 * anything; a shard with term lists has none). */
static void
open_amends(claw_index_t *ix)
{
    delete ix->amend_db;
    ix->amend_db = nullptr;
    ix->amends.clear();
    ix->check.amend_uuids.clear();
    bool any = false;
    for (unsigned i = 0; i < ix->n_shards; i++) {
        std::string a = shard_path(ix->dir, "amend", i);
        if (access((a + "/iamglass").c_str(), F_OK) != 0)
            break;
        Xapian::Database one(a);
        any = any || one.get_doccount() > 0;
        ix->amends.push_back(one);
        ix->check.amend_uuids.push_back(one.get_uuid());
    }
    if (!any || ix->amends.size() != ix->n_shards) {
        ix->amends.clear();
        ix->check.amend_uuids.clear();
        return;
    }
    ix->amend_db = new Xapian::Database();
    for (Xapian::Database &one : ix->amends)
        ix->amend_db->add_database(one);
}

/* Does @e say the shard's revision is damaged: blocks that do not read as
 * they should, or that are not there (a commit torn by a full disk left
 * "EOF reading block N": Xapian's rollback recorded a revision whose
 * blocks were never written)? Not a lock, permissions or the like. */
static bool
damaged(const Xapian::Error &e)
{
    return e.get_type() == std::string("DatabaseCorruptError") ||
           (e.get_type() == std::string("DatabaseError") &&
            e.get_msg().compare(0, 18, "EOF reading block ") == 0);
}

/* Xapian 1.4.22's GlassVersion::write() closes the new version file when
 * writing it fails (a full disk) but keeps its number, and closes that
 * number again when the database is freed: by then the number may be a
 * client's socket or another shard's file. Such a write is the only one in
 * glass that fails with "Error writing to file" (tables write blocks:
 * "Error writing block N"). When the rollback that follows succeeds, it
 * has written the version file again and the number is forgotten; when it
 * fails ("Modifications failed (...), and couldn't open at the old
 * revision"), the number stays, whichever of the two writes met it. */
static bool
leaves_stale_fd(const Xapian::Error &e)
{
    std::string d = e.get_description();
    return d.find("Error writing to file") != std::string::npos &&
           d.find("couldn't open at the old revision") != std::string::npos;
}

/* Xapian 1.4 writes a value slot's last chunk in the destructor of
 * Glass::ValueUpdater (glass_values.cc), which runs in every commit and
 * every flush of a shard with values. When that write fails (a full disk)
 * the exception leaves a destructor, and C++ ends the process with
 * std::terminate(): nothing can catch it (seen in the soak: "terminate
 * called without an active exception" under WritableDatabase::commit).
 * The shard on disk is still at its last commit (glass writes a revision's
 * blocks where the committed one does not look, and its version file
 * last); what is lost is uncommitted work, which the indexer does again
 * from the store. So an end inside one of our writes (a WriteSection) is
 * logged as what it is and the process exits with EX_TEMPFAIL (75), as
 * clawd does when its store fails, for its supervisor to start it again.
 * Any other std::terminate() aborts as usual. */
static thread_local const char *writing_dir, *writing_what;

class WriteSection {
  public:
    WriteSection(const std::string &dir, const char *what)
        : outer_dir(writing_dir), outer_what(writing_what)
    {
        writing_dir = dir.c_str();
        writing_what = what;
    }
    ~WriteSection()
    {
        writing_dir = outer_dir;
        writing_what = outer_what;
    }
    WriteSection(const WriteSection &) = delete;
    WriteSection &operator=(const WriteSection &) = delete;

  private:
    const char *outer_dir, *outer_what;
};

static std::terminate_handler usual_terminate;

[[noreturn]] static void
ended_in_write()
{
    if (writing_dir) {
        claw_log(CLAW_LOG_ERROR, NULL,
                 "index: %s: a write failed while %s where Xapian cannot report it (in a "
                 "destructor; Xapian 1.4 on a full disk); the index stays at its last commit: "
                 "exiting with 75 to be restarted",
                 writing_dir, writing_what);
        _exit(EX_TEMPFAIL);
    }
    usual_terminate();
    abort();
}

static void
end_writes_in_tempfail()
{
    static std::once_flag once;
    std::call_once(once, [] { usual_terminate = std::set_terminate(ended_in_write); });
}

/* Tests: CLAW_TEST_INDEX_TERMINATE=N ends the process in the Nth commit of
 * this process as Xapian's failing destructor does. */
static void
test_terminate_in_commit()
{
    static std::atomic<unsigned> commits;
    static const char *at = getenv("CLAW_TEST_INDEX_TERMINATE");
    if (at && *at && ++commits == strtoul(at, nullptr, 10))
        std::terminate();
}

/* The databases left allocated, kept where a leak checker sees them: in
 * a vector that is never destroyed, as a static one would be at exit,
 * before LeakSanitizer looks. */
static std::mutex leaked_lock;
static std::vector<Xapian::WritableDatabase *> *const leaked =
    new std::vector<Xapian::WritableDatabase *>;

/* Close @w without committing when @discard (a write of it failed: what
 * it holds since its last commit is not to be trusted, and the shard is
 * indexed again from that commit), and free it unless @stale: a database
 * that may hold a closed number (leaves_stale_fd) is closed, which gives
 * back its lock and its tables' files, and then left allocated, so that
 * its destructor never closes that number a second time. What stays
 * behind is its block buffers and uncommitted changes, about 280 KiB
 * (measured: 560 KiB per reopen of a shard, whose amendments' database
 * goes with it); claw_index_leaked() counts them. Not committing is done
 * by closing inside a transaction: close() otherwise commits first, and
 * when that commit fails (the disk is still full) it returns before giving
 * back the lock, which only the destructor would then give back, and a
 * failing commit may itself leave a stale number. */
static void
release_writable(const std::string &dir, Xapian::WritableDatabase *w, bool discard, bool stale)
{
    if (!w)
        return;
    WriteSection writing(dir, "closing it");
    try {
        if (discard || stale)
            w->begin_transaction(false);
    } catch (...) {
    }
    try {
        w->close();
    } catch (...) {
    }
    if (stale) {
        std::lock_guard<std::mutex> hold(leaked_lock);
        leaked->push_back(w);
    } else {
        delete w;
    }
}

extern "C" unsigned
claw_index_leaked(void)
{
    std::lock_guard<std::mutex> hold(leaked_lock);
    return (unsigned)leaked->size();
}

extern "C" bool
claw_index_stale(const claw_index_t *ix)
{
    return ix && ix->stale_fd;
}

/* Shard @path for writing, and (without term lists) its amendments at
 * @amend, made now, empty, so that readers find one for every shard. */
static void
open_writable(claw_index_t *ix, const std::string &path, const std::string &amend, int action)
{
    int lists = ix->termlists ? 0 : Xapian::DB_NO_TERMLIST;
    ix->wdb = new Xapian::WritableDatabase(path, action | lists | Xapian::DB_BACKEND_GLASS);
    if (!ix->termlists)
        ix->amend_w = new Xapian::WritableDatabase(amend, Xapian::DB_CREATE_OR_OPEN |
                                                              Xapian::DB_BACKEND_GLASS);
}

static claw_status_t
open_index(claw_index_t *ix, const char *dir, unsigned flags, unsigned shard, unsigned n_shards)
{
    try {
        ix->dir = dir;
        if (flags & CLAW_INDEX_WRITE) {
            end_writes_in_tempfail();
            /* The shard count is fixed when the index is created. */
            unsigned have = read_shards(dir);
            if (have && have != n_shards) {
                ix->error = std::string(dir) + ": has " + std::to_string(have) + " shards, not " +
                            std::to_string(n_shards);
                return CLAW_STATUS_INVALID_ARGUMENT;
            }
            if (!have) {
                if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
                    ix->error = std::string(dir) + ": " + strerror(errno);
                    return CLAW_STATUS_IO_ERROR;
                }
                std::string tmp = std::string(dir) + "/shards.tmp";
                FILE *f = fopen(tmp.c_str(), "w");
                if (!f || fprintf(f, "%u\n", n_shards) < 0 || fflush(f) != 0 ||
                    fsync(fileno(f)) != 0 || fclose(f) != 0 ||
                    rename(tmp.c_str(), (std::string(dir) + "/shards").c_str()) != 0) {
                    ix->error = std::string(dir) + "/shards: " + strerror(errno);
                    return CLAW_STATUS_IO_ERROR;
                }
            }
            int action = (flags & CLAW_INDEX_FRESH)    ? Xapian::DB_CREATE_OR_OVERWRITE
                         : (flags & CLAW_INDEX_CREATE) ? Xapian::DB_CREATE_OR_OPEN
                                                       : Xapian::DB_OPEN;
            ix->shard = shard;
            ix->n_shards = n_shards;
            std::string path = shard_path(dir, "shard", shard);
            std::string amend = shard_path(dir, "amend", shard);
            if (flags & CLAW_INDEX_FRESH) {
                claw_index_remove_tree(path.c_str());
                claw_index_remove_tree(amend.c_str());
            }
            /* Xapian opens a shard without term lists only when told. */
            const char *keep = getenv("CLAW_TEST_INDEX_TERMLISTS"); /* tests: the old layout */
            if (access((path + "/iamglass").c_str(), F_OK) != 0)
                ix->termlists = keep && *keep == '1';
            else
                ix->termlists = access((path + "/termlist.glass").c_str(), F_OK) == 0;
            try {
                if (flags & CLAW_INDEX_REBUILD)
                    throw Xapian::DatabaseCorruptError("a write found it damaged");
                /* A shard's folder without its revision file is one whose
                 * making was cut short (a full disk): made again too. */
                if ((flags & CLAW_INDEX_REPAIR) && access(path.c_str(), F_OK) == 0 &&
                    access((path + "/iamglass").c_str(), F_OK) != 0 && errno == ENOENT)
                    throw Xapian::DatabaseCorruptError("its making was cut short");
                open_writable(ix, path, amend, action);
            } catch (const Xapian::DatabaseError &e) {
                if (!(flags & (CLAW_INDEX_REPAIR | CLAW_INDEX_REBUILD)) || !damaged(e))
                    throw;
                /* Derived data: the shard is made again, and its amendments
                 * (newer versions of its documents) with it. */
                ix->repaired = e.get_description();
                delete ix->wdb;
                ix->wdb = nullptr;
                claw_index_remove_tree(path.c_str());
                claw_index_remove_tree(amend.c_str());
                open_writable(ix, path, amend, Xapian::DB_CREATE_OR_OVERWRITE);
            }
            ix->db = ix->wdb;
        } else {
            unsigned n = read_shards(dir);
            if (!n) {
                ix->error = std::string(dir) + ": no index";
                return CLAW_STATUS_NOT_FOUND;
            }
            ix->db = new Xapian::Database();
            for (unsigned i = 0; i < n; i++) {
                Xapian::Database one(shard_path(dir, "shard", i));
                ix->shards.push_back(one);
                ix->db->add_database(one);
                ix->check.shard_uuids.push_back(one.get_uuid());
                if (one.get_metadata("positions") == "no")
                    ix->positions = false;
            }
            ix->n_shards = n;
            open_amends(ix);
        }
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, dir)
}

extern "C" claw_status_t
claw_index_open(const char *dir, unsigned flags, claw_index_t **out, char **error)
{
    return claw_index_open_shard(dir, flags & ~CLAW_INDEX_WRITE, 0, 1, out, error);
}

extern "C" claw_status_t
claw_index_open_shard(const char *dir, unsigned flags, unsigned shard, unsigned n_shards,
                      claw_index_t **out, char **error)
{
    *out = nullptr;
    if (error)
        *error = nullptr;
    if (n_shards == 0 || shard >= n_shards)
        return CLAW_STATUS_INVALID_ARGUMENT;
    claw_index_t *ix = new (std::nothrow) claw_index_t;
    if (!ix)
        return CLAW_STATUS_OUT_OF_MEMORY;
    claw_status_t st = open_index(ix, dir, flags, shard, n_shards);
    if (st) {
        if (error)
            *error = dup_error(ix->error);
        delete ix->db;
        delete ix;
        return st;
    }
    *out = ix;
    return st;
}

extern "C" void
claw_index_set_positions(claw_index_t *ix, bool positions)
{
    ix->positions = positions;
}

extern "C" void
claw_index_set_phrase_check(claw_index_t *ix, claw_phrase_check_t fn, void *ctx)
{
    ix->check.fn = fn;
    ix->check.ctx = ctx;
}

extern "C" unsigned
claw_index_n_shards(const claw_index_t *ix)
{
    return ix->n_shards;
}

extern "C" const char *
claw_index_repaired(const claw_index_t *ix)
{
    return ix->repaired.empty() ? nullptr : ix->repaired.c_str();
}

extern "C" bool
claw_index_damaged(const claw_index_t *ix)
{
    return ix && ix->damaged;
}

extern "C" void
claw_index_close(claw_index_t *ix)
{
    if (!ix)
        return;
    release_writable(ix->dir, ix->amend_w, ix->write_failed, ix->stale_fd);
    release_writable(ix->dir, ix->wdb, ix->write_failed, ix->stale_fd);
    delete ix->amend_db;
    if (ix->db != ix->wdb)
        delete ix->db;
    delete ix;
}

extern "C" const char *
claw_index_error(const claw_index_t *ix)
{
    return ix ? ix->error.c_str() : "no index";
}

/* A number the index keeps in its metadata; 0 when it has none. */
static uint64_t
metadata_u64(const Xapian::Database &db, const char *key)
{
    return strtoull(db.get_metadata(key).c_str(), nullptr, 10);
}

extern "C" claw_status_t
claw_index_last_seq(claw_index_t *ix, uint64_t *seq)
{
    *seq = 0;
    try {
        if (ix->wdb) {
            *seq = metadata_u64(*ix->wdb, "last_seq");
            return CLAW_STATUS_SUCCESS;
        }
        /* The index as a whole holds what its slowest shard holds. */
        uint64_t low = UINT64_MAX;
        for (Xapian::Database &one : ix->shards) {
            uint64_t n = metadata_u64(one, "last_seq");
            low = n < low ? n : low;
        }
        *seq = low == UINT64_MAX ? 0 : low;
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

/* Before the shard's own commit: after a crash between the two, the
 * shard's last_seq is the older, and catching up from it writes the same
 * amendments again. */
static void
commit_amendments(claw_index_t *ix, uint64_t seq)
{
    if (ix->amend_w) {
        ix->amend_w->set_metadata("last_seq", std::to_string(seq));
        ix->amend_w->commit();
    }
}

static bool
has_doc(const Xapian::Database &db, Xapian::docid did)
{
    Xapian::PostingIterator p = db.postlist_begin("");
    p.skip_to(did);
    return p != db.postlist_end("") && *p == did;
}

extern "C" claw_status_t
claw_index_replace(claw_index_t *ix, uint64_t docid, const claw_doc_t *doc)
{
    if (!ix->wdb || docid == 0 || docid > 0xffffffffu ||
        (docid - 1) % ix->n_shards != ix->shard)
        return CLAW_STATUS_INVALID_ARGUMENT;
    docid = (docid - 1) / ix->n_shards + 1; /* within this shard */
    WriteSection writing(ix->dir, "adding a document"); /* a flush may come */
    try {
        Xapian::Document d;
        size_t n = claw_doc_n_terms(doc);
        for (size_t i = 0; i < n; i++) {
            uint32_t pos, wdf;
            const char *t = claw_doc_term(doc, i, &pos, &wdf);
            if (pos)
                d.add_posting(t, pos);
            else if (t[0] == 'X')
                d.add_boolean_term(t);
            else
                d.add_term(t, wdf);
        }
        /* An erased message's document has no terms and no values: no
         * range (date:, received:, size:) finds it either. */
        for (unsigned s = 0; n && s < CLAW_N_SLOTS; s++)
            d.add_value(s, Xapian::sortable_serialise(claw_doc_value(doc, s)));
        /* A new docid just past the end is an append: add_document is
         * cheaper than replace_document, which looks for an old version. */
        if (docid == (uint64_t)ix->wdb->get_lastdocid() + 1) {
            ix->wdb->add_document(d);
        } else if (ix->termlists || !has_doc(*ix->wdb, (Xapian::docid)docid)) {
            ix->wdb->replace_document((Xapian::docid)docid, d);
        } else {
            ix->amend_w->replace_document((Xapian::docid)docid, d); /* made at open */
        }
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" claw_status_t
claw_index_commit(claw_index_t *ix, uint64_t seq)
{
    if (!ix->wdb)
        return CLAW_STATUS_INVALID_ARGUMENT;
    WriteSection writing(ix->dir, "committing");
    try {
        test_terminate_in_commit();
        commit_amendments(ix, seq);
        ix->wdb->set_metadata("last_seq", std::to_string(seq));
        ix->wdb->set_metadata("positions", ix->positions ? "yes" : "no");
        ix->wdb->commit();
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

static int
remove_entry(const char *path, const struct stat *, int, struct FTW *)
{
    return remove(path);
}

extern "C" void
claw_index_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* fsync a file or directory by name; what cannot be opened is skipped. */
static void
sync_path(const std::string &path, int flags)
{
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

extern "C" claw_status_t
claw_index_compacted(claw_index_t *ix, uint64_t *docs, uint64_t *compacted)
{
    if (!ix->db) /* a compaction could not reopen it */
        return CLAW_STATUS_INVALID_ARGUMENT;
    try {
        *docs = ix->db->get_doccount();
        *compacted = 0;
        if (ix->wdb)
            *compacted = metadata_u64(*ix->wdb, "compacted_docs");
        for (Xapian::Database &one : ix->shards)
            *compacted += metadata_u64(one, "compacted_docs");
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

/* Xapian's tables grow by splitting blocks as documents arrive, and are left
 * about half full; a compacted copy is half the size (measured on the ham
 * corpora) and faster to search. The copy is made from the committed
 * revision beside the shard and exchanged with it in one rename, so a
 * reader finds one or the other; one that has the old one open keeps its
 * files until it closes them. */
extern "C" claw_status_t
claw_index_compact(claw_index_t *ix, uint64_t seq)
{
    if (!ix->wdb)
        return CLAW_STATUS_INVALID_ARGUMENT;
    std::string path = ix->dir + "/shard" + std::to_string(ix->shard);
    std::string tmp = path + ".compact";
    WriteSection writing(ix->dir, "compacting");
    try {
        claw_index_remove_tree(tmp.c_str());
        commit_amendments(ix, seq);
        ix->wdb->set_metadata("last_seq", std::to_string(seq));
        ix->wdb->set_metadata("positions", ix->positions ? "yes" : "no");
        ix->wdb->set_metadata("compacted_docs", std::to_string(ix->wdb->get_doccount()));
        ix->wdb->commit();
        ix->wdb->compact(tmp, Xapian::DBCOMPACT_NO_RENUMBER);
    }
    CATCH(ix, path)
    /* The copy's files are durable before it replaces the shard. */
    for (const char *t : {"postlist", "termlist", "docdata", "position", "record"})
        sync_path(tmp + "/" + t + ".glass", 0);
    sync_path(tmp, O_DIRECTORY);
    try {
        ix->wdb->close();
    } catch (...) {
    }
    delete ix->wdb;
    ix->wdb = nullptr;
    ix->db = nullptr;
    int rc = renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE);
    if (rc != 0 && errno == EINVAL) {
        /* No exchange here: two renames, with a moment between them. */
        std::string old = path + ".old";
        claw_index_remove_tree(old.c_str());
        rc = rename(path.c_str(), old.c_str());
        if (rc == 0 && (rc = rename(tmp.c_str(), path.c_str())) != 0)
            rename(old.c_str(), path.c_str());
        tmp = old;
    }
    int saved = errno;
    sync_path(ix->dir, O_DIRECTORY);
    if (rc == 0)
        claw_index_remove_tree(tmp.c_str());
    try {
        ix->wdb = new Xapian::WritableDatabase(path, Xapian::DB_OPEN | Xapian::DB_BACKEND_GLASS |
                                                         (ix->termlists ? 0 : Xapian::DB_NO_TERMLIST));
        ix->db = ix->wdb;
    }
    CATCH(ix, path)
    if (rc != 0) {
        ix->error = path + ": cannot put the compacted copy in place: " + strerror(saved);
        return CLAW_STATUS_IO_ERROR;
    }
    return CLAW_STATUS_SUCCESS;
}

extern "C" claw_status_t
claw_index_count(claw_index_t *ix, uint64_t *n, uint64_t *last)
{
    try {
        *n = ix->db->get_doccount();
        *last = ix->db->get_lastdocid();
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" claw_status_t
claw_index_has(claw_index_t *ix, uint64_t docid, bool *has)
{
    *has = false;
    try {
        *has = docid <= 0xffffffffu && has_doc(*ix->db, (Xapian::docid)docid);
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" claw_status_t
claw_index_each(claw_index_t *ix, bool (*fn)(void *ctx, uint64_t docid), void *ctx)
{
    try {
        for (Xapian::PostingIterator p = ix->db->postlist_begin(""); p != ix->db->postlist_end("");
             ++p)
            if (!fn(ctx, *p))
                break;
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" claw_status_t
claw_index_reopen(claw_index_t *ix)
{
    try {
        ix->db->reopen();
        for (Xapian::Database &one : ix->shards)
            one.reopen();
        if (!ix->wdb)
            open_amends(ix);
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" bool
claw_index_writing(claw_index_t *ix)
{
    try {
        for (Xapian::Database &one : ix->shards)
            if (one.locked())
                return true;
    } catch (const Xapian::Error &) {
    }
    return false;
}

static Xapian::MSet
run_query(const Xapian::Database &db, const Xapian::Query &q, claw_sort_t sort, size_t first,
          size_t limit, bool exact)
{
    Xapian::Enquire enq(db);
    enq.set_query(q);
    if (sort == CLAW_SORT_DATE) {
        /* Newest first; no relevance to compute. */
        enq.set_weighting_scheme(Xapian::BoolWeight());
        enq.set_sort_by_value(CLAW_SLOT_DATE, true);
    }
    /* limit 0 asks for the count alone: make it exact. */
    return enq.get_mset((Xapian::doccount)first, (Xapian::doccount)limit,
                        limit && !exact ? 0 : db.get_doccount());
}

/* Does hit @a of one result come before hit @b of another (the order each
 * result has: newest first, or by weight)? */
static bool
before(const Xapian::MSetIterator &a, const Xapian::MSetIterator &b, claw_sort_t sort)
{
    if (sort == CLAW_SORT_DATE) {
        std::string ka = a.get_sort_key(), kb = b.get_sort_key();
        if (ka != kb)
            return ka > kb;
    } else if (a.get_weight() != b.get_weight()) {
        return a.get_weight() > b.get_weight();
    }
    return *a < *b;
}

static claw_status_t
search(claw_index_t *ix, const Xapian::Query &q, claw_sort_t sort, size_t offset, size_t limit,
       bool exact, claw_hits_t **out)
{
    Xapian::MSet m, a;
    if (!ix->amend_db) {
        m = run_query(*ix->db, q, sort, offset, limit, exact);
    } else {
        /* The shards without the documents that have newer versions, and
         * those versions; both searched to offset + limit and merged. */
        Xapian::Query masked(Xapian::Query::OP_AND_NOT, q,
                             Xapian::Query((new MaskSource(&ix->check, &ix->amends))->release()));
        size_t want = limit ? offset + limit : 0;
        m = run_query(*ix->db, masked, sort, 0, want, exact);
        a = run_query(*ix->amend_db, q, sort, 0, want, exact);
    }
    claw_hits_t *h = (claw_hits_t *)calloc(1, sizeof *h);
    if (!h)
        throw std::bad_alloc();
    h->estimated = m.get_matches_estimated() + a.get_matches_estimated();
    size_t n = m.size() + a.size();
    h->hits = (claw_hit_t *)calloc(n ? n : 1, sizeof(claw_hit_t));
    if (!h->hits) {
        free(h);
        throw std::bad_alloc();
    }
    Xapian::MSetIterator i = m.begin(), j = a.begin();
    for (size_t k = 0; i != m.end() || j != a.end(); k++) {
        bool from_a = i == m.end() || (j != a.end() && before(j, i, sort));
        Xapian::MSetIterator &it = from_a ? j : i;
        if (!ix->amend_db || (k >= offset && (!limit || h->n < limit))) {
            claw_hit_t *x = &h->hits[h->n++];
            x->docid = *it;
            x->relevance = it.get_percent();
        }
        ++it;
    }
    *out = h;
    return CLAW_STATUS_SUCCESS;
}

/* Tries of a search that meets a revision being replaced: a reader that
 * finds the writer has moved past its revision (DatabaseModifiedError), or
 * blocks that do not read as its revision said (DatabaseCorruptError, seen
 * after a commit failed on a full disk while xapian-check found the index
 * clean), reads the latest revision and searches again. */
const int SEARCH_TRIES = 3;

/* The error of a search, in ix->error and *@error. */
static claw_status_t
search_failed(claw_index_t *ix, const std::string &why, claw_status_t st, char **error)
{
    ix->error = why;
    if (error)
        *error = dup_error(ix->error);
    return st;
}

/* After try @tries met a revision being replaced: true when the latest
 * one is open and worth another try. */
static bool
search_again(claw_index_t *ix, int tries)
{
    if (tries >= SEARCH_TRIES)
        return false;
    if (tries > 1)
        usleep(50000); /* a writer in the middle of its commit */
    return claw_index_reopen(ix) == CLAW_STATUS_SUCCESS;
}

/* Run the query @make() gives (it may throw QueryError), trying again
 * when the index moves under the search. */
template <typename MakeQuery>
static claw_status_t
search_with(claw_index_t *ix, MakeQuery make, claw_sort_t sort, size_t offset, size_t limit,
            bool exact, claw_hits_t **hits, char **error)
{
    *hits = nullptr;
    if (error)
        *error = nullptr;
    for (int tries = 1;; tries++) {
        try {
            return search(ix, make(), sort, offset, limit, exact, hits);
        } catch (const QueryError &e) {
            return search_failed(ix, e.what, CLAW_STATUS_INVALID_ARGUMENT, error);
        } catch (const Xapian::WildcardError &e) {
            return search_failed(ix,
                                 "a wildcard matches more than " + std::to_string(MAX_EXPANSION) +
                                     " terms: make it longer",
                                 CLAW_STATUS_INVALID_ARGUMENT, error);
        } catch (const Xapian::DatabaseModifiedError &e) {
            if (!search_again(ix, tries))
                return search_failed(ix, e.get_description(), CLAW_STATUS_IO_ERROR, error);
        } catch (const Xapian::DatabaseCorruptError &e) {
            if (!search_again(ix, tries))
                return search_failed(ix, e.get_description(), CLAW_STATUS_IO_ERROR, error);
        } catch (const Xapian::Error &e) {
            return search_failed(ix, e.get_description(), CLAW_STATUS_IO_ERROR, error);
        } catch (const std::bad_alloc &) {
            return CLAW_STATUS_OUT_OF_MEMORY;
        }
    }
}

extern "C" claw_status_t
claw_index_search(claw_index_t *ix, const char *query, claw_sort_t sort, size_t offset,
                  size_t limit, claw_hits_t **hits, char **error)
{
    /* Quarantined mail is out of view unless asked for: by the caller, or
     * by a query that names the state field. */
    std::string q = lower(query ? query : "");
    bool hide = !ix->show_quarantined && q.find("state:") == std::string::npos;
    auto make = [&] {
        Xapian::Query p = Parser(query, ix->positions, &ix->check, &ix->iocs).parse();
        if (!hide)
            return p;
        return Xapian::Query(Xapian::Query::OP_AND_NOT, p, Xapian::Query("XSTATEquarantined"));
    };
    return search_with(ix, make, sort, offset, limit, false, hits, error);
}

extern "C" void
claw_index_show_quarantined(claw_index_t *ix, bool show)
{
    ix->show_quarantined = show;
}

extern "C" void
claw_index_set_ioc_terms(claw_index_t *ix, claw_index_ioc_terms_fn *fn, void *ctx)
{
    ix->iocs.fn = fn;
    ix->iocs.ctx = ctx;
}

extern "C" claw_status_t
claw_index_search_terms(claw_index_t *ix, const char *const *terms, size_t n, claw_sort_t sort,
                        size_t offset, size_t limit, claw_hits_t **hits, char **error)
{
    auto make = [&] {
        std::vector<Xapian::Query> any;
        for (size_t i = 0; i < n; i++)
            any.emplace_back(terms[i]);
        return Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT,
                             Xapian::Query(Xapian::Query::OP_OR, any.begin(), any.end()), 0.0);
    };
    return search_with(ix, make, sort, offset, limit, true, hits, error);
}

extern "C" claw_status_t
claw_index_each_term(claw_index_t *ix, const char *prefix,
                     bool (*fn)(void *ctx, const char *term), void *ctx)
{
    try {
        for (Xapian::Database *db : {ix->db, ix->amend_db}) {
            if (!db)
                continue;
            for (Xapian::TermIterator t = db->allterms_begin(prefix); t != db->allterms_end(prefix);
                 ++t)
                if (!fn(ctx, (*t).c_str()))
                    return CLAW_STATUS_SUCCESS;
        }
        return CLAW_STATUS_SUCCESS;
    }
    CATCH(ix, ix->dir)
}

extern "C" void
claw_hits_free(claw_hits_t *h)
{
    if (!h)
        return;
    free(h->hits);
    free(h);
}

extern "C" claw_status_t
claw_index_describe(const char *query, char **description, char **error)
{
    *description = nullptr;
    if (error)
        *error = nullptr;
    try {
        *description = strdup(Parser(query).parse().get_description().c_str());
        return CLAW_STATUS_SUCCESS;
    } catch (const QueryError &e) {
        if (error)
            *error = dup_error(e.what);
        return CLAW_STATUS_INVALID_ARGUMENT;
    } catch (const Xapian::Error &e) {
        if (error)
            *error = dup_error(e.get_description());
        return CLAW_STATUS_INVALID_ARGUMENT;
    } catch (const std::bad_alloc &) {
        return CLAW_STATUS_OUT_OF_MEMORY;
    }
}
