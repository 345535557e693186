// The union: node table, resolution through the layer stack, and every
// operation. See union_fs.hpp for the on-disk format and docs/fusefs.md for
// the reasons behind each choice.
#include "hsbox/fusefs/union_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "copy_up.hpp"
#include "layer.hpp"
#include "node.hpp"
#include "whiteout.hpp"

namespace hsbox::fusefs {

std::string_view view_name(View v) {
    switch (v) {
    case View::Root: return "root";
    case View::Merged: return "merged";
    case View::Upper: return "upper";
    }
    return "?";
}

std::optional<View> parse_view(std::string_view s) {
    if (s == "root") return View::Root;
    if (s == "merged") return View::Merged;
    if (s == "upper") return View::Upper;
    return std::nullopt;
}

namespace {


bool valid_name(std::string_view n) {
    return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos && n.size() <= 255;
}

struct MergedEntry {
    std::string name;
    uint64_t ino;
    unsigned char type;
    int layer;
    bool origin_set;
};

class UnionImpl final : public Union {
public:
    Status init(const Config& cfg);

    bool writable() const override { return view_ == View::Root; }
    View view() const override { return view_; }

    Result<Entry> lookup(uint64_t parent, std::string_view name) override;
    void forget(uint64_t node, uint64_t n) override;
    Result<struct stat> getattr(uint64_t node) override;
    Result<struct stat> fgetattr(uint64_t node, int fd) override;
    Result<struct stat> setattr(uint64_t node, const SetAttr& a) override;
    Result<std::string> readlink(uint64_t node) override;
    Result<Entry> mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                        const Caller& c) override;
    Result<Entry> mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& c) override;
    Result<Entry> symlink(uint64_t parent, std::string_view name, const std::string& target,
                          const Caller& c) override;
    Result<Entry> link(uint64_t node, uint64_t newparent, std::string_view newname) override;
    Status unlink(uint64_t parent, std::string_view name) override;
    Status rmdir(uint64_t parent, std::string_view name) override;
    Status rename(uint64_t parent, std::string_view name, uint64_t newparent, std::string_view newname,
                  unsigned flags) override;
    Result<OpenFile> open_file(uint64_t node, int flags) override;
    Result<std::pair<Entry, OpenFile>> create(uint64_t parent, std::string_view name, mode_t mode, int flags,
                                              const Caller& c) override;
    Result<std::vector<DirEntry>> readdir(uint64_t node) override;
    Result<std::string> getxattr(uint64_t node, const std::string& name) override;
    Result<std::string> listxattr(uint64_t node) override;
    Status setxattr(uint64_t node, const std::string& name, const std::string& value, int flags) override;
    Status removexattr(uint64_t node, const std::string& name) override;
    Result<struct statvfs> statfs() override;
    Status sync_dir(uint64_t node) override;
    void note_written(uint64_t node) override;
    bool follow_changes(const std::function<void(uint64_t, const std::string&, uint64_t)>& fn) override;
    void set_invalidator(std::function<void(uint64_t, bool)> fn) override {
        std::lock_guard lk(mu_);
        invalidator_ = std::move(fn);
    }
    size_t node_count() override {
        std::lock_guard lk(mu_);
        return nodes_.size();
    }

private:
    // The common part of setxattr/removexattr: copy up, run `op` on the
    // upper path, journal the change. Returns op's failure as `what`.
    Status change_xattr(uint64_t id, const std::string& what, const std::function<int(const char*)>& op);

    // --- layers ---
    bool has_upper() const { return upper_ >= 0; }
    bool is_upper(int layer) const { return layer == upper_; }
    bool is_bottom(int layer) const { return layer == static_cast<int>(layers_.size()) - 1; }

    // --- nodes ---
    Result<Node*> get(uint64_t id);
    Node* add_child(Node* parent, std::string_view name, State s);
    void detach(Node* n);
    void maybe_free(Node* n);
    Status fresh(Node* n);
    Status refresh(Node* n);
    void refresh_subtree(Node* n);
    Status ensure_fds(Node* n);
    void note_fd_open(Node* n);
    void set_state(Node* n, State s);
    void register_ino(Node* n);
    void notify_ino(uint64_t ino, uint64_t except, bool data);
    void pin_backing(Node* dir, const std::string& name);
    void begin() {
        read_gen();
        trim_fds();
    }
    void trim_fds();
    struct stat attr_of(const State& s) const;

    // --- resolution ---
    State resolve_in(const std::vector<LayerDir>& dirs, std::string_view name);
    State resolve_upper_view(const std::vector<LayerDir>& dirs, std::string_view name);
    void fix_regular(State& s, const struct stat* origin);
    void fix_regular_key(State& s, const std::string& key, nlink_t lower_nlink);
    Result<State> resolve(Node* parent, std::string_view name);
    Result<std::vector<MergedEntry>> list_merged(const std::vector<LayerDir>& dirs);
    Result<bool> is_empty_dir(const State& s);
    // Returns the dirfd and name through which the node's visible entry is reached.
    Result<std::pair<int, std::string>> backing(Node* n);
    int upper_fd(Node* dir) { return dir->s.dirs[0].fd.get(); }

    // --- writes ---
    Status require_writable() const {
        if (!writable()) return Error{EROFS, "read-only view"};
        return {};
    }
    Status copy_up(Node* n, bool with_data);
    Status copy_one_up(const std::vector<LayerDir>& pdirs, int upper_pfd, std::string_view name,
                       const State& s, bool with_data);
    Status copy_up_tree(const std::vector<LayerDir>& dirs);
    Result<Node*> prepare_create(uint64_t parent, std::string_view name, bool* had_whiteout);
    Result<Entry> finish_create(Node* parent, std::string_view name, bool had_whiteout, const Caller& c);
    void bump_gen();
    void changed(Node* dir, std::string_view name);
    std::string path_of(Node* n) const;
    void read_gen();
    std::string index_key(const struct stat& lower) const {
        return std::to_string(lower.st_dev) + "-" + std::to_string(lower.st_ino);
    }
    void count_gone(const std::string& key);
    off_t gone_count(const std::string& key);

    std::mutex mu_;
    View view_ = View::Root;
    bool live_ = false;
    std::vector<Layer> layers_;
    int upper_ = -1;
    dev_t base_dev_ = 0;
    HiddenSet hidden_;
    Fd work_, index_, gen_fd_;
    Fd journal_;              // root view: appends; live views: follows
    off_t journal_off_ = 0;   // live views: how far it was read
    std::chrono::steady_clock::time_point last_gen_try_{};
    uint64_t gen_ = 0;
    uint64_t next_id_ = kRootNode + 1;
    std::unordered_map<uint64_t, std::unique_ptr<Node>> nodes_;
    // upper (dev, ino) -> reported ino of its origin, so renamed and linked
    // copies keep the inode number they had before copy-up.
    struct Origin {
        uint64_t ino = 0;
        std::string index_name;  // set when the lower origin had several links
        nlink_t lower_nlink = 0;
    };
    std::map<std::pair<dev_t, ino_t>, Origin> origin_of_;
    std::unordered_map<uint64_t, std::unordered_set<uint64_t>> by_ino_;  // regular files by reported ino
    std::function<void(uint64_t, bool)> invalidator_;
    std::deque<uint64_t> fd_order_;  // dir nodes in the order their fds were opened
    size_t open_dir_fds_ = 0;
    size_t fd_budget_ = 4096;
};

// ---------------------------------------------------------------- setup

Status UnionImpl::init(const Config& cfg) {
    view_ = cfg.view;
    live_ = cfg.live && view_ != View::Root;
    fd_budget_ = cfg.dir_fd_budget < 1 ? 1 : cfg.dir_fd_budget;
    if ((view_ == View::Root || view_ == View::Upper) && cfg.upper.empty())
        return Error{EINVAL, std::string("the ") + std::string(view_name(view_)) + " view needs an upper layer"};
    if (view_ != View::Upper && cfg.lowers.empty() && cfg.upper.empty())
        return Error{EINVAL, "no layers given"};
    if (!cfg.upper.empty()) {
        auto l = open_layer(cfg.upper, true);
        if (!l) return l.error();
        layers_.push_back(std::move(*l));
        upper_ = 0;
    }
    if (view_ != View::Upper) {
        for (auto& p : cfg.lowers) {
            auto l = open_layer(p, false);
            if (!l) return l.error();
            layers_.push_back(std::move(*l));
        }
    }
    base_dev_ = layers_.back().dev;
    for (auto& h : cfg.hidden)
        if (auto st = hidden_.add(h); !st) return st;
    if (has_upper()) {
        int up = layers_[upper_].root.get();
        std::string wd(kWorkDir);
        if (writable()) {
            if (::mkdirat(up, wd.c_str(), 0700) < 0 && errno != EEXIST) return last_error("create work dir");
            for (const char* sub : {"work", "index"}) {
                std::string p = wd + "/" + sub;
                if (::mkdirat(up, p.c_str(), 0700) < 0 && errno != EEXIST) return last_error("create " + p);
            }
            auto w = open_at(up, wd + "/work", O_PATH | O_DIRECTORY | O_NOFOLLOW);
            if (!w) return w.error();
            work_ = std::move(*w);
            auto g = open_at(up, wd + "/gen", O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
            if (!g) return g.error();
            gen_fd_ = std::move(*g);
            auto j = open_at(up, wd + "/changes", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
            if (!j) return j.error();
            journal_ = std::move(*j);
            // Leftovers of an interrupted copy-up are never visible; drop them.
            if (auto dir = open_at(work_.get(), ".", O_RDONLY | O_DIRECTORY)) {
                DIR* d = ::fdopendir(dir->release());
                std::vector<std::string> junk;
                while (struct dirent* e = d ? ::readdir(d) : nullptr)
                    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
                        junk.emplace_back(e->d_name);
                if (d) ::closedir(d);
                for (auto& j : junk)
                    if (::unlinkat(work_.get(), j.c_str(), 0) < 0 && errno == EISDIR)
                        ::unlinkat(work_.get(), j.c_str(), AT_REMOVEDIR);
            }
        } else {
            if (auto g = open_at(up, wd + "/gen", O_RDONLY | O_NOFOLLOW)) gen_fd_ = std::move(*g);
        }
        if (auto ix = open_at(up, wd + "/index", O_PATH | O_DIRECTORY | O_NOFOLLOW)) index_ = std::move(*ix);
    }
    auto root = std::make_unique<Node>();
    root->id = kRootNode;
    root->nlookup = 1;
    nodes_[kRootNode] = std::move(root);
    read_gen();
    return refresh(nodes_[kRootNode].get());
}


void UnionImpl::bump_gen() {
    if (!gen_fd_ || !writable()) return;
    ++gen_;
    (void)::pwrite(gen_fd_.get(), &gen_, sizeof gen_, 0);
}

std::string UnionImpl::path_of(Node* n) const {
    std::vector<const std::string*> parts;
    for (; n && n->parent; n = n->parent) parts.push_back(&n->name);
    std::string p;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        p += '/';
        p += **it;
    }
    return p;
}

// A change of `dir`/`name` (its existence, layer, attributes or data):
// bumps the generation and appends the path to the journal, which live views
// follow to drop exactly those names from their kernel caches.
void UnionImpl::changed(Node* dir, std::string_view name) {
    bump_gen();
    if (!journal_ || !writable()) return;
    struct stat st;
    if (::fstat(journal_.get(), &st) == 0 && st.st_size > (16 << 20)) {
        // Followers see it shrink and drop all their caches once.
        (void)::ftruncate(journal_.get(), 0);
    }
    std::string rec = path_of(dir) + "/" + std::string(name) + "\n";
    (void)::write(journal_.get(), rec.data(), rec.size());
}

void UnionImpl::note_written(uint64_t id) {
    std::lock_guard lk(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end() || it->second->unlinked || !it->second->parent) return;
    changed(it->second->parent, it->second->name);
}

bool UnionImpl::follow_changes(const std::function<void(uint64_t, const std::string&, uint64_t)>& fn) {
    std::lock_guard lk(mu_);
    if (!live_ || !has_upper()) return false;
    if (!journal_) {
        read_gen();                  // a root view may have started since
        if (!gen_fd_) return false;  // none yet
        auto j = open_at(layers_[upper_].root.get(), std::string(kWorkDir) + "/changes", O_RDONLY | O_NOFOLLOW);
        if (!j) return false;
        journal_ = std::move(*j);
        journal_off_ = 0;
    }
    struct stat st;
    if (::fstat(journal_.get(), &st) < 0 || st.st_size == journal_off_) return false;
    bool all = st.st_size < journal_off_;
    std::string data;
    if (!all) {
        data.resize(static_cast<size_t>(std::min<off_t>(st.st_size - journal_off_, 1 << 22)));
        ssize_t n = ::pread(journal_.get(), data.data(), data.size(), journal_off_);
        if (n <= 0) return false;
        data.resize(static_cast<size_t>(n));
        size_t end = data.rfind('\n');
        if (end == std::string::npos) return false;  // a record still being written
        data.resize(end + 1);
        journal_off_ += static_cast<off_t>(data.size());
    } else {
        journal_off_ = 0;
    }
    if (all || data.size() >= (1 << 22) - 4096) {
        // Rotated or too much at once: drop everything the kernel holds.
        for (auto& [id, n] : nodes_)
            if (n->parent && !n->unlinked) fn(n->parent->id, n->name, id);
        fn(kRootNode, std::string(), kRootNode);
        return true;
    }
    size_t pos = 0;
    while (pos < data.size()) {
        size_t nl = data.find('\n', pos);
        std::string_view rec(data.data() + pos, nl - pos);
        pos = nl + 1;
        // Walk the nodes the kernel knows; stop where the path leaves them.
        Node* dir = nodes_[kRootNode].get();
        size_t i = 1;
        while (true) {
            size_t j = rec.find('/', i);
            std::string comp(rec.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
            auto c = dir->children.find(comp);
            Node* child = c == dir->children.end() ? nullptr : c->second;
            if (j == std::string_view::npos || !child) {
                if (j == std::string_view::npos) fn(dir->id, comp, child ? child->id : 0);
                break;
            }
            dir = child;
            i = j + 1;
        }
    }
    return true;
}

void UnionImpl::read_gen() {
    if (!live_) return;
    if (!gen_fd_ && has_upper()) {
        // No root view has written yet: look again at most every 100 ms.
        auto now = std::chrono::steady_clock::now();
        if (now - last_gen_try_ < std::chrono::milliseconds(100)) return;
        last_gen_try_ = now;
        auto g = open_at(layers_[upper_].root.get(), std::string(kWorkDir) + "/gen", O_RDONLY | O_NOFOLLOW);
        if (g) gen_fd_ = std::move(*g);
        auto ix = open_at(layers_[upper_].root.get(), std::string(kWorkDir) + "/index",
                          O_PATH | O_DIRECTORY | O_NOFOLLOW);
        if (ix) index_ = std::move(*ix);
    }
    uint64_t g = 0;
    if (gen_fd_ && ::pread(gen_fd_.get(), &g, sizeof g, 0) == sizeof g) gen_ = g;
}

// ---------------------------------------------------------------- nodes

Result<Node*> UnionImpl::get(uint64_t id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return Error{ESTALE, "unknown node " + std::to_string(id)};
    Node* n = it->second.get();
    if (auto st = fresh(n); !st) return st.error();
    return n;
}

// Children keep their parent alive: `children` holds attached ones; detached
// (unlinked) ones are counted in `detached`.
Node* UnionImpl::add_child(Node* parent, std::string_view name, State s) {
    std::string key(name);
    auto it = parent->children.find(key);
    if (it != parent->children.end()) {
        Node* old = it->second;
        bool same = old->s.type == s.type && old->s.ino == s.ino;
        if (same) {
            set_state(old, std::move(s));
            return old;
        }
        detach(old);
    }
    auto n = std::make_unique<Node>();
    n->id = next_id_++;
    n->parent = parent;
    n->name = key;
    n->gen = gen_;
    Node* raw = n.get();
    parent->children[key] = raw;
    nodes_[raw->id] = std::move(n);
    set_state(raw, std::move(s));
    return raw;
}

void UnionImpl::detach(Node* n) {
    if (n->unlinked || !n->parent) return;
    n->parent->children.erase(n->name);
    ++n->parent->detached;
    n->unlinked = true;
    maybe_free(n);
}

void UnionImpl::maybe_free(Node* n) {
    while (n && n->id != kRootNode && n->nlookup == 0 && n->children.empty() && n->detached == 0) {
        Node* p = n->parent;
        if (n->unlinked) {
            if (p && p->detached) --p->detached;
        } else if (p) {
            p->children.erase(n->name);
        }
        for (auto& d : n->s.dirs)
            if (d.fd) --open_dir_fds_;
        n->s.type = 0;
        register_ino(n);
        nodes_.erase(n->id);
        n = p;
    }
}

void UnionImpl::set_state(Node* n, State s) {
    for (auto& d : n->s.dirs)
        if (d.fd) --open_dir_fds_;
    uint64_t ino = n->s.ino;
    bool keep_ino = ino && !live_ && n->s.type != 0 && (s.type == S_IFDIR) == (n->s.type == S_IFDIR) && s.type != 0;
    n->s = std::move(s);
    if (keep_ino) n->s.ino = ino;
    n->gen = gen_;
    note_fd_open(n);
    register_ino(n);
}

void UnionImpl::register_ino(Node* n) {
    uint64_t want = n->s.type == S_IFREG ? n->s.ino : 0;
    if (n->reg_ino == want) return;
    if (n->reg_ino) {
        auto it = by_ino_.find(n->reg_ino);
        if (it != by_ino_.end()) {
            it->second.erase(n->id);
            if (it->second.empty()) by_ino_.erase(it);
        }
    }
    n->reg_ino = want;
    if (want) by_ino_[want].insert(n->id);
}

void UnionImpl::notify_ino(uint64_t ino, uint64_t except, bool data) {
    if (!invalidator_) return;
    auto it = by_ino_.find(ino);
    if (it == by_ino_.end()) return;
    for (uint64_t id : it->second)
        if (id != except) invalidator_(id, data);
}

// Before a name goes away, an attached node keeps an O_PATH fd to what it
// named: the kernel still asks for the attributes of open, unlinked files.
void UnionImpl::pin_backing(Node* dir, const std::string& name) {
    auto it = dir->children.find(name);
    if (it == dir->children.end()) return;
    Node* n = it->second;
    if (n->s.type == S_IFDIR || n->keep) return;
    auto b = backing(n);
    if (!b) return;
    int fd = ::openat(b->first, b->second.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) n->keep.reset(fd);
}

void UnionImpl::note_fd_open(Node* n) {
    size_t opened = 0;
    for (auto& d : n->s.dirs)
        if (d.fd) ++opened;
    if (!opened) return;
    open_dir_fds_ += opened;
    fd_order_.push_back(n->id);
}

// Closes the oldest directory fds beyond the budget. Called only at the start
// of an operation, so no fd in use by the operation is ever closed under it.
void UnionImpl::trim_fds() {
    while (open_dir_fds_ > fd_budget_ && !fd_order_.empty()) {
        uint64_t victim = fd_order_.front();
        fd_order_.pop_front();
        if (victim == kRootNode) continue;
        auto it = nodes_.find(victim);
        if (it == nodes_.end()) continue;
        for (auto& d : it->second->s.dirs)
            if (d.fd) {
                d.fd.reset();
                --open_dir_fds_;
            }
    }
}

Status UnionImpl::ensure_fds(Node* n) {
    bool missing = false;
    for (auto& d : n->s.dirs)
        if (!d.fd) missing = true;
    if (!missing) return {};
    if (!n->parent) return Error{ESTALE, "root lost its fds"};
    if (auto st = ensure_fds(n->parent); !st) return st;
    size_t reopened = 0;
    for (auto& d : n->s.dirs) {
        if (d.fd) continue;
        int pfd = -1;
        for (auto& pd : n->parent->s.dirs)
            if (pd.layer == d.layer) pfd = pd.fd.get();
        if (pfd < 0) return refresh(n);
        auto r = open_layer_dir(pfd, n->name, d.layer);
        if (!r || r->dev != d.dev || r->ino != d.ino) return refresh(n);
        d.fd = std::move(r->fd);
        ++reopened;
    }
    if (reopened) {
        open_dir_fds_ += reopened;
        fd_order_.push_back(n->id);
    }
    return {};
}

// Brings a node up to date: in live views when another process changed the
// layers since the node was resolved, and for lower files with several links
// (a copy-up through another name changes what they show).
Status UnionImpl::fresh(Node* n) {
    if (n->unlinked) {
        if (n->keep) return {};
        return Error{ENOENT, "unlinked"};
    }
    if (live_) {
        if (n->gen != gen_) {
            if (n->parent)
                if (auto st = fresh(n->parent); !st) return st;
            if (auto st = refresh(n); !st) return st;
        }
    } else if (n->s.type == S_IFREG && !is_upper(n->s.layer) && !n->s.index_name.empty()) {
        if (auto st = refresh(n); !st) return st;
    }
    if (n->s.type == 0) return Error{ENOENT, "gone"};
    return ensure_fds(n);
}

Status UnionImpl::refresh(Node* n) {
    n->gen = gen_;
    if (!n->parent) {
        State s;
        s.type = S_IFDIR;
        for (size_t i = 0; i < layers_.size(); ++i) {
            auto d = open_layer_dir(layers_[i].root.get(), ".", static_cast<int>(i));
            if (!d) return d.error();
            bool stop = view_ != View::Upper && !is_bottom(static_cast<int>(i)) && is_opaque(d->fd.get());
            s.dirs.push_back(std::move(*d));
            if (stop) break;
        }
        if (::fstat(s.dirs.back().fd.get(), &s.st) < 0) return last_error("stat root");
        struct stat top;
        if (::fstat(s.dirs.front().fd.get(), &top) == 0) {
            s.st.st_mode = top.st_mode;
            s.st.st_uid = top.st_uid;
            s.st.st_gid = top.st_gid;
            s.st.st_mtim = top.st_mtim;
            s.st.st_ctim = top.st_ctim;
        }
        s.layer = s.dirs.front().layer;
        s.ino = map_ino(base_dev_, s.st.st_dev, s.st.st_ino);
        s.nlink = s.dirs.size() > 1 ? 1 : s.st.st_nlink;
        set_state(n, std::move(s));
        return {};
    }
    if (auto st = ensure_fds(n->parent); !st) return st;
    set_state(n, resolve_in(n->parent->s.dirs, n->name));
    return {};
}

void UnionImpl::refresh_subtree(Node* n) {
    (void)refresh(n);
    std::vector<Node*> kids;
    for (auto& [_, c] : n->children) kids.push_back(c);
    for (Node* c : kids) refresh_subtree(c);
}

struct stat UnionImpl::attr_of(const State& s) const {
    struct stat st = s.st;
    st.st_ino = s.ino;
    st.st_nlink = s.nlink ? s.nlink : 1;
    if (s.whiteout_shown) {
        st.st_mode = S_IFCHR;
        st.st_rdev = 0;
        st.st_size = 0;
    }
    return st;
}

// ---------------------------------------------------------------- resolution

void UnionImpl::fix_regular(State& s, const struct stat* origin) {
    s.nlink = s.st.st_nlink;
    // Hard links of a lower file: copy-up goes through index/<dev>-<ino>, and
    // index/<dev>-<ino>.gone counts (one byte each) the lower names consumed.
    const struct stat* lower = nullptr;
    if (!is_upper(s.layer)) lower = &s.st;
    else if (origin && S_ISREG(origin->st_mode)) lower = origin;
    if (!lower || lower->st_nlink <= 1 || !has_upper()) return;
    std::string key = index_key(*lower);
    s.index_name = key;
    s.lower_nlink = lower->st_nlink;
    struct stat ix;
    bool have_ix = index_ && ::fstatat(index_.get(), key.c_str(), &ix, AT_SYMLINK_NOFOLLOW) == 0;
    off_t gone = gone_count(key);
    nlink_t lower_left = lower->st_nlink > static_cast<nlink_t>(gone) ? lower->st_nlink - gone : 0;
    if (!is_upper(s.layer)) {
        if (have_ix) {
            s.indexed = true;
            struct stat low = s.st;
            s.st = ix;
            s.ino = map_ino(base_dev_, low.st_dev, low.st_ino);
            s.nlink = (ix.st_nlink - 1) + lower_left;
        } else {
            s.nlink = lower_left;
        }
    } else if (have_ix && ix.st_ino == s.st.st_ino && ix.st_dev == s.st.st_dev) {
        s.nlink = (s.st.st_nlink - 1) + lower_left;
    }
    if (s.nlink == 0) s.nlink = 1;
}

void UnionImpl::fix_regular_key(State& s, const std::string& key, nlink_t lower_nlink) {
    s.nlink = s.st.st_nlink;
    struct stat ix;
    if (!index_ || ::fstatat(index_.get(), key.c_str(), &ix, AT_SYMLINK_NOFOLLOW) < 0) return;
    if (ix.st_ino != s.st.st_ino || ix.st_dev != s.st.st_dev) return;
    off_t gone = gone_count(key);
    nlink_t lower_left = lower_nlink > static_cast<nlink_t>(gone) ? lower_nlink - gone : 0;
    s.nlink = (s.st.st_nlink - 1) + lower_left;
    if (s.nlink == 0) s.nlink = 1;
}

off_t UnionImpl::gone_count(const std::string& key) {
    if (!index_) return 0;
    struct stat g;
    std::string n = key + ".gone";
    if (::fstatat(index_.get(), n.c_str(), &g, AT_SYMLINK_NOFOLLOW) < 0) return 0;
    return g.st_size;
}

void UnionImpl::count_gone(const std::string& key) {
    if (!index_ || key.empty()) return;
    std::string n = key + ".gone";
    int fd = ::openat(index_.get(), n.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)::write(fd, "x", 1);
    ::close(fd);
}

State UnionImpl::resolve_upper_view(const std::vector<LayerDir>& dirs, std::string_view name) {
    State s;
    std::string n(name);
    const LayerDir& ld = dirs[0];
    if (is_reserved(name) && name != kOpaque) return s;
    struct stat st;
    if (::fstatat(ld.fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        s.type = st.st_mode & S_IFMT;
        s.st = st;
    } else if (::fstatat(ld.fd.get(), whiteout_name(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        s.type = S_IFCHR;
        s.st = st;
        s.whiteout_shown = true;
    } else {
        if (errno != ENOENT) s.err = errno;
        return s;
    }
    s.layer = ld.layer;
    s.ino = map_ino(base_dev_, st.st_dev, st.st_ino);
    s.nlink = st.st_nlink;
    if (s.type == S_IFDIR && !s.whiteout_shown) {
        auto d = open_layer_dir(ld.fd.get(), name, ld.layer);
        if (!d) {
            s.type = 0;
            return s;
        }
        s.dirs.push_back(std::move(*d));
    }
    return s;
}

State UnionImpl::resolve_in(const std::vector<LayerDir>& dirs, std::string_view name) {
    if (view_ == View::Upper) return resolve_upper_view(dirs, name);
    State s;
    std::string n(name);
    const struct stat* origin = nullptr;
    struct stat origin_st;
    for (size_t i = 0; i < dirs.size(); ++i) {
        const LayerDir& ld = dirs[i];
        bool lower = !is_upper(ld.layer);
        if (lower && hidden_.hides(ld.dev, ld.ino, name)) continue;
        struct stat st;
        if (::fstatat(ld.fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            bool dir = S_ISDIR(st.st_mode);
            if (s.type == 0) {
                s.type = st.st_mode & S_IFMT;
                s.layer = ld.layer;
                s.st = st;
                if (lower) s.in_lower = true;
            } else {
                if (lower && !s.in_lower) {
                    s.in_lower = true;
                    origin_st = st;
                    origin = &origin_st;
                }
                if (s.type != S_IFDIR || !dir) break;  // a non-dir below: hidden, stop merging
            }
            if (s.type != S_IFDIR) {
                if (!lower) continue;  // keep looking for an origin below the upper entry
                break;
            }
            auto d = open_layer_dir(ld.fd.get(), name, ld.layer);
            if (!d) break;
            bool stop = !is_bottom(ld.layer) && is_opaque(d->fd.get());
            s.dirs.push_back(std::move(*d));
            if (stop) {
                // Opaque: lowers contribute no content, but the name may still
                // exist below (whiteout needed on removal).
                for (size_t j = i + 1; j < dirs.size() && !s.in_lower; ++j) {
                    if (hidden_.hides(dirs[j].dev, dirs[j].ino, name)) continue;
                    if (::fstatat(dirs[j].fd.get(), n.c_str(), &origin_st, AT_SYMLINK_NOFOLLOW) == 0) {
                        s.in_lower = true;
                        origin = &origin_st;
                    }
                }
                break;
            }
        } else {
            if (errno != ENOENT && errno != ENOTDIR && s.type == 0) {
                s.err = errno;  // remembered for the error reply
                break;
            }
            if (!is_bottom(ld.layer) && exists_at(ld.fd.get(), whiteout_name(name))) break;
        }
    }
    if (s.type == 0) return s;
    // The inode number: the origin's (the lower entry at this path) if there is
    // one of the same kind, else the one recorded at copy-up, else its own.
    const struct stat& own = s.st;
    if (is_upper(s.layer)) {
        auto it = origin_of_.find({own.st_dev, own.st_ino});
        if (origin && (S_ISDIR(origin->st_mode) == (s.type == S_IFDIR))) {
            s.ino = map_ino(base_dev_, origin->st_dev, origin->st_ino);
            Origin& o = origin_of_[{own.st_dev, own.st_ino}];
            o.ino = s.ino;
            if (S_ISREG(origin->st_mode) && origin->st_nlink > 1) {
                o.index_name = index_key(*origin);
                o.lower_nlink = origin->st_nlink;
            }
        } else if (it != origin_of_.end()) {
            s.ino = it->second.ino;
            if (s.type == S_IFREG && !it->second.index_name.empty()) {
                s.index_name = it->second.index_name;
                s.lower_nlink = it->second.lower_nlink;
                fix_regular_key(s, it->second.index_name, it->second.lower_nlink);
                return s;
            }
        } else {
            s.ino = map_ino(base_dev_, own.st_dev, own.st_ino);
        }
    } else {
        s.ino = map_ino(base_dev_, own.st_dev, own.st_ino);
    }
    if (s.type == S_IFDIR) {
        s.nlink = s.dirs.size() > 1 ? 1 : own.st_nlink;
    } else if (s.type == S_IFREG) {
        fix_regular(s, origin);
    } else {
        s.nlink = own.st_nlink;
    }
    return s;
}

Result<State> UnionImpl::resolve(Node* parent, std::string_view name) {
    if (parent->s.type != S_IFDIR) return Error{ENOTDIR, "not a directory"};
    if (auto st = ensure_fds(parent); !st) return st.error();
    return resolve_in(parent->s.dirs, name);
}

Result<std::vector<MergedEntry>> UnionImpl::list_merged(const std::vector<LayerDir>& dirs) {
    std::vector<MergedEntry> out;
    std::unordered_map<std::string, size_t> pos;
    std::unordered_set<std::string> whited;
    for (const LayerDir& ld : dirs) {
        bool lower = !is_upper(ld.layer);
        bool check_hidden = lower && hidden_.has_parent(ld.dev, ld.ino);
        int fd = ::openat(ld.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return last_error("open directory");
        DIR* d = ::fdopendir(fd);
        if (!d) {
            ::close(fd);
            return last_error("fdopendir");
        }
        std::vector<std::string> layer_whiteouts;
        errno = 0;
        while (struct dirent* e = ::readdir(d)) {
            std::string_view nm = e->d_name;
            if (nm == "." || nm == "..") continue;
            if (view_ == View::Upper) {
                if (nm == kOpaque) {
                    out.push_back({std::string(nm), map_ino(base_dev_, ld.dev, e->d_ino), DT_REG, ld.layer, true});
                    continue;
                }
                std::string_view w = whited_out(nm);
                if (!w.empty()) {
                    if (!pos.count(std::string(w))) {
                        pos[std::string(w)] = out.size();
                        out.push_back({std::string(w), map_ino(base_dev_, ld.dev, e->d_ino), DT_CHR, ld.layer, true});
                    }
                    continue;
                }
                if (is_reserved(nm)) continue;
                auto it = pos.find(std::string(nm));
                if (it != pos.end()) {  // a whiteout and an entry: show the entry
                    out[it->second].type = e->d_type;
                    out[it->second].ino = map_ino(base_dev_, ld.dev, e->d_ino);
                    continue;
                }
                pos[std::string(nm)] = out.size();
                out.push_back({std::string(nm), map_ino(base_dev_, ld.dev, e->d_ino), e->d_type, ld.layer, true});
                continue;
            }
            if (is_reserved(nm)) {
                std::string_view w = whited_out(nm);
                if (!w.empty() && !is_bottom(ld.layer)) layer_whiteouts.emplace_back(w);
                continue;
            }
            std::string key(nm);
            if (check_hidden && hidden_.hides(ld.dev, ld.ino, nm)) continue;
            auto it = pos.find(key);
            if (it != pos.end()) {
                MergedEntry& m = out[it->second];
                if (lower && !m.origin_set && (m.type == DT_DIR) == (e->d_type == DT_DIR)) {
                    m.ino = map_ino(base_dev_, ld.dev, e->d_ino);
                    m.origin_set = true;
                }
                continue;
            }
            if (whited.count(key)) continue;
            uint64_t ino = map_ino(base_dev_, ld.dev, e->d_ino);
            if (!lower) {
                auto o = origin_of_.find({ld.dev, e->d_ino});
                if (o != origin_of_.end()) ino = o->second.ino;
            }
            pos[key] = out.size();
            out.push_back({key, ino, e->d_type, ld.layer, lower});
        }
        ::closedir(d);
        for (auto& w : layer_whiteouts) whited.insert(std::move(w));
    }
    return out;
}

Result<bool> UnionImpl::is_empty_dir(const State& s) {
    auto l = list_merged(s.dirs);
    if (!l) return l.error();
    return l->empty();
}

Result<std::pair<int, std::string>> UnionImpl::backing(Node* n) {
    if (n->unlinked) {
        if (!n->keep) return Error{ENOENT, "unlinked"};
        return std::make_pair(n->keep.get(), std::string());
    }
    if (n->s.type == S_IFDIR || !n->parent) {
        if (n->s.dirs.empty()) return Error{ESTALE, "directory without layers"};
        return std::make_pair(n->s.dirs[0].fd.get(), std::string());
    }
    if (n->s.indexed) return std::make_pair(index_.get(), n->s.index_name);
    if (auto st = ensure_fds(n->parent); !st) return st.error();  // the fd budget may have closed them
    for (auto& d : n->parent->s.dirs)
        if (d.layer == n->s.layer) {
            std::string name = n->name;
            if (n->s.whiteout_shown) name = whiteout_name(n->name);
            return std::make_pair(d.fd.get(), name);
        }
    return Error{ESTALE, "parent lost the layer of " + n->name};
}

// ---------------------------------------------------------------- copy-up

Status UnionImpl::copy_one_up(const std::vector<LayerDir>& pdirs, int upper_pfd, std::string_view name,
                              const State& s, bool with_data) {
    int src = -1;
    for (auto& d : pdirs)
        if (d.layer == s.layer) src = d.fd.get();
    std::string n(name);
    std::string tmp = temp_name();
    if (s.indexed) {
        // Another name of this lower file was copied up: link to that copy.
        if (::linkat(index_.get(), s.index_name.c_str(), upper_pfd, n.c_str(), 0) < 0)
            return last_error("link copy-up " + n);
        count_gone(s.index_name);
        return {};
    }
    if (src < 0) return Error{ESTALE, "no source layer for " + n};
    bool multi = s.type == S_IFREG && !s.index_name.empty() && index_;
    if (auto st = copy_entry(src, name, s.st, work_.get(), tmp, with_data || multi); !st) return st;
    if (multi) {
        const std::string& key = s.index_name;
        if (::linkat(work_.get(), tmp.c_str(), index_.get(), key.c_str(), 0) < 0 && errno != EEXIST) {
            Error e = last_error("index " + key);
            ::unlinkat(work_.get(), tmp.c_str(), 0);
            return e;
        }
        count_gone(key);
    }
    if (::renameat(work_.get(), tmp.c_str(), upper_pfd, n.c_str()) < 0) {
        Error e = last_error("copy-up rename " + n);
        ::unlinkat(work_.get(), tmp.c_str(), S_ISDIR(s.st.st_mode) ? AT_REMOVEDIR : 0);
        return e;
    }
    struct stat now;
    if (::fstatat(upper_pfd, n.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0) {
        Origin& o = origin_of_[{now.st_dev, now.st_ino}];
        o.ino = s.ino;
        if (!s.index_name.empty()) {
            o.index_name = s.index_name;
            o.lower_nlink = s.lower_nlink;
        }
    }
    return {};
}

Status UnionImpl::copy_up(Node* n, bool with_data) {
    if (auto st = require_writable(); !st) return st;
    if (is_upper(n->s.layer)) return {};
    if (!n->parent) return {};  // the upper root always exists
    if (auto st = copy_up(n->parent, true); !st) return st;
    if (auto st = ensure_fds(n->parent); !st) return st;
    if (auto st = copy_one_up(n->parent->s.dirs, upper_fd(n->parent), n->name, n->s, with_data); !st) return st;
    bool shared = !n->s.index_name.empty();
    set_state(n, resolve_in(n->parent->s.dirs, n->name));
    if (shared) notify_ino(n->s.ino, n->id, true);
    changed(n->parent, n->name);
    if (n->s.type == 0) return Error{ESTALE, "copy-up lost " + n->name};
    return {};
}

// Copies every lower entry of a merged directory (already in the upper: dirs[0])
// into the upper, recursively, then makes it opaque: after this the directory
// no longer depends on its path in the lower layers, so it can move.
Status UnionImpl::copy_up_tree(const std::vector<LayerDir>& dirs) {
    if (dirs.empty() || !is_upper(dirs[0].layer)) return Error{EINVAL, "copy_up_tree without upper"};
    int up = dirs[0].fd.get();
    if (dirs.size() > 1) {
        struct stat before;
        if (::fstat(up, &before) < 0) return last_error("stat dir");
        auto list = list_merged(dirs);
        if (!list) return list.error();
        for (auto& e : *list) {
            State s = resolve_in(dirs, e.name);
            if (s.type == 0) continue;
            if (!is_upper(s.layer))
                if (auto st = copy_one_up(dirs, up, e.name, s, true); !st) return st;
            if (s.type == S_IFDIR) {
                State c = resolve_in(dirs, e.name);
                if (auto st = copy_up_tree(c.dirs); !st) return st;
            }
        }
        struct timespec ts[2] = {before.st_atim, before.st_mtim};
        std::string self = fd_path(up, "");
        ::utimensat(AT_FDCWD, self.c_str(), ts, 0);
    }
    if (!is_opaque(up))
        if (auto st = make_opaque(up); !st) return st;
    return {};
}

// ---------------------------------------------------------------- operations

Result<Entry> UnionImpl::lookup(uint64_t parent, std::string_view name) {
    std::lock_guard lk(mu_);
    begin();
    auto p = get(parent);
    if (!p) return p.error();
    if (!valid_name(name)) return Error{name.size() > 255 ? ENAMETOOLONG : EINVAL, "bad name"};
    if (is_reserved(name) && !(view_ == View::Upper && name == kOpaque)) return Error{ENOENT, std::string(name)};
    auto s = resolve(*p, name);
    if (!s) return s.error();
    if (s->type == 0) {
        auto it = (*p)->children.find(std::string(name));
        if (it != (*p)->children.end()) detach(it->second);
        int e = s->err ? s->err : ENOENT;
        return Error{e, std::string(name)};
    }
    Node* n = add_child(*p, name, std::move(*s));
    n->gen = gen_;
    ++n->nlookup;
    return Entry{n->id, attr_of(n->s)};
}

void UnionImpl::forget(uint64_t id, uint64_t count) {
    std::lock_guard lk(mu_);
    begin();
    auto it = nodes_.find(id);
    if (it == nodes_.end() || id == kRootNode) return;
    Node* n = it->second.get();
    n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
    maybe_free(n);
}

Result<struct stat> UnionImpl::getattr(uint64_t id) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    auto b = backing(*n);
    if (!b) return b.error();
    struct stat st;
    if (::fstatat(b->first, b->second.c_str(), &st, AT_SYMLINK_NOFOLLOW | (b->second.empty() ? AT_EMPTY_PATH : 0)) < 0)
        return last_error("stat " + (*n)->name);
    State& s = (*n)->s;
    if ((*n)->unlinked) {
        st.st_ino = s.ino;
        return st;
    }
    if (s.type == S_IFREG && st.st_nlink != s.st.st_nlink) {
        // Links changed: resolve again for the count (index, lower names).
        if (auto r = refresh(*n); !r) return r.error();
        if ((*n)->s.type == 0) return Error{ENOENT, (*n)->name};
        return attr_of((*n)->s);
    }
    s.st = st;
    return attr_of(s);
}

Result<struct stat> UnionImpl::fgetattr(uint64_t id, int fd) {
    {
        std::lock_guard lk(mu_);
        auto it = nodes_.find(id);
        if (it == nodes_.end()) return Error{ESTALE, "unknown node"};
        if (it->second->unlinked) {
            struct stat st;
            if (::fstat(fd, &st) < 0) return last_error("fstat");
            st.st_ino = it->second->s.ino;
            return st;
        }
    }
    return getattr(id);
}

Result<struct stat> UnionImpl::setattr(uint64_t id, const SetAttr& a) {
    {
        std::lock_guard lk(mu_);
    begin();
        if (auto st = require_writable(); !st) return st.error();
        auto n = get(id);
        if (!n) return n.error();
        bool trunc0 = a.size && *a.size == 0 && !a.mode && !a.uid && !a.gid;
        if ((*n)->unlinked && !is_upper((*n)->s.layer)) return Error{ENOENT, "unlinked lower entry"};
        if (!(*n)->unlinked)
            if (auto st = copy_up(*n, !trunc0); !st) return st.error();
        auto b = backing(*n);
        if (!b) return b.error();
        auto [dfd, name] = *b;
        int empty = name.empty() ? AT_EMPTY_PATH : 0;
        if (a.uid || a.gid) {
            uid_t u = a.uid ? *a.uid : static_cast<uid_t>(-1);
            gid_t g = a.gid ? *a.gid : static_cast<gid_t>(-1);
            if (::fchownat(dfd, name.c_str(), u, g, AT_SYMLINK_NOFOLLOW | empty) < 0) return last_error("chown");
        }
        if (a.mode) {
            if ((*n)->s.type == S_IFLNK) return Error{EOPNOTSUPP, "chmod of a symlink"};
            std::string p = fd_path(dfd, name);
            if (::fchmodat(AT_FDCWD, p.c_str(), *a.mode & 07777, 0) < 0) return last_error("chmod");
        }
        if (a.size) {
            if ((*n)->s.type != S_IFREG) return Error{EINVAL, "truncate of a non-file"};
            int fd = name.empty() ? ::open(fd_path(dfd, "").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                                  : ::openat(dfd, name.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) return last_error("open for truncate");
            Fd f(fd);
            if (::ftruncate(fd, *a.size) < 0) return last_error("truncate");
        }
        if (a.atime || a.mtime) {
            struct timespec ts[2];
            ts[0] = a.atime ? *a.atime : timespec{0, UTIME_OMIT};
            ts[1] = a.mtime ? *a.mtime : timespec{0, UTIME_OMIT};
            int r = name.empty() ? ::utimensat(AT_FDCWD, fd_path(dfd, "").c_str(), ts, 0)
                                 : ::utimensat(dfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
            if (r < 0) return last_error("utimens");
        }
        if (!(*n)->unlinked && (*n)->parent) changed((*n)->parent, (*n)->name);
    }
    return getattr(id);
}

Result<std::string> UnionImpl::readlink(uint64_t id) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.type != S_IFLNK) return Error{EINVAL, "not a symlink"};
    auto b = backing(*n);
    if (!b) return b.error();
    return read_link(b->first, b->second);
}

Result<Node*> UnionImpl::prepare_create(uint64_t parent, std::string_view name, bool* had_whiteout) {
    if (auto st = require_writable(); !st) return st.error();
    if (!valid_name(name)) return Error{name.size() > 255 ? ENAMETOOLONG : EINVAL, "bad name"};
    if (is_reserved(name)) return Error{EPERM, "names starting with .wh. are reserved: " + std::string(name)};
    auto p = get(parent);
    if (!p) return p.error();
    auto s = resolve(*p, name);
    if (!s) return s.error();
    if (s->type != 0) return Error{EEXIST, std::string(name)};
    if (auto st = copy_up(*p, true); !st) return st.error();
    if (auto st = ensure_fds(*p); !st) return st.error();
    *had_whiteout = exists_at(upper_fd(*p), whiteout_name(name));
    return *p;
}

Result<Entry> UnionImpl::finish_create(Node* p, std::string_view name, bool had_whiteout, const Caller& c) {
    int up = upper_fd(p);
    std::string n(name);
    if (::geteuid() == 0) {
        gid_t g = c.gid;
        struct stat pst;
        if (::fstat(up, &pst) == 0 && (pst.st_mode & S_ISGID)) g = pst.st_gid;
        ::fchownat(up, n.c_str(), c.uid, g, AT_SYMLINK_NOFOLLOW);
    }
    if (had_whiteout) (void)remove_whiteout(up, name);
    changed(p, name);
    State s = resolve_in(p->s.dirs, name);
    if (s.type == 0) return Error{ENOENT, "created entry vanished: " + n};
    Node* node = add_child(p, name, std::move(s));
    ++node->nlookup;
    return Entry{node->id, attr_of(node->s)};
}

Result<Entry> UnionImpl::mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev, const Caller& c) {
    std::lock_guard lk(mu_);
    begin();
    bool wh = false;
    auto p = prepare_create(parent, name, &wh);
    if (!p) return p.error();
    if (::mknodat(upper_fd(*p), std::string(name).c_str(), mode, rdev) < 0) return last_error("mknod");
    return finish_create(*p, name, wh, c);
}

Result<Entry> UnionImpl::mkdir(uint64_t parent, std::string_view name, mode_t mode, const Caller& c) {
    std::lock_guard lk(mu_);
    begin();
    bool wh = false;
    auto p = prepare_create(parent, name, &wh);
    if (!p) return p.error();
    int up = upper_fd(*p);
    std::string n(name);
    if (wh) {
        // A lower directory of this name was deleted: the new one must not
        // show its contents, so it is created opaque, atomically.
        std::string tmp = temp_name();
        if (::mkdirat(work_.get(), tmp.c_str(), mode & 07777) < 0) return last_error("mkdir");
        auto d = open_at(work_.get(), tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW);
        Status st = d ? make_opaque(d->get()) : Status(d.error());
        if (st) {
            std::string p = fd_path(work_.get(), tmp);
            ::chmod(p.c_str(), mode & 07777);
        }
        if (!st || ::renameat(work_.get(), tmp.c_str(), up, n.c_str()) < 0) {
            Error e = st ? last_error("rename new dir") : st.error();
            if (d) (void)clear_markers(d->get());
            ::unlinkat(work_.get(), tmp.c_str(), AT_REMOVEDIR);
            return e;
        }
    } else if (::mkdirat(up, n.c_str(), mode & 07777) < 0) {
        return last_error("mkdir");
    }
    return finish_create(*p, name, wh, c);
}

Result<Entry> UnionImpl::symlink(uint64_t parent, std::string_view name, const std::string& target, const Caller& c) {
    std::lock_guard lk(mu_);
    begin();
    bool wh = false;
    auto p = prepare_create(parent, name, &wh);
    if (!p) return p.error();
    if (::symlinkat(target.c_str(), upper_fd(*p), std::string(name).c_str()) < 0) return last_error("symlink");
    return finish_create(*p, name, wh, c);
}

Result<Entry> UnionImpl::link(uint64_t id, uint64_t newparent, std::string_view newname) {
    std::lock_guard lk(mu_);
    begin();
    if (auto st = require_writable(); !st) return st.error();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.type == S_IFDIR) return Error{EPERM, "hard link to a directory"};
    bool wh = false;
    auto p = prepare_create(newparent, newname, &wh);
    if (!p) return p.error();
    if (auto st = copy_up(*n, true); !st) return st.error();
    auto b = backing(*n);
    if (!b) return b.error();
    if (::linkat(b->first, b->second.c_str(), upper_fd(*p), std::string(newname).c_str(), 0) < 0)
        return last_error("link");
    uint64_t ino = (*n)->s.ino;
    struct stat now;
    if (::fstatat(upper_fd(*p), std::string(newname).c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0)
        origin_of_[{now.st_dev, now.st_ino}].ino = ino;  // same inode: keeps its index key if any
    auto e = finish_create(*p, newname, wh, Caller{static_cast<uid_t>(-1), static_cast<gid_t>(-1), 0});
    (void)refresh(*n);
    (*n)->s.ino = ino;
    notify_ino(ino, e ? e->node : 0, false);
    if ((*n)->parent) changed((*n)->parent, (*n)->name);
    return e;
}

Status UnionImpl::unlink(uint64_t parent, std::string_view name) {
    std::lock_guard lk(mu_);
    begin();
    if (auto st = require_writable(); !st) return st;
    if (!valid_name(name) || is_reserved(name)) return Error{ENOENT, std::string(name)};
    auto p = get(parent);
    if (!p) return p.error();
    auto s = resolve(*p, name);
    if (!s) return s.error();
    if (s->type == 0) return Error{ENOENT, std::string(name)};
    if (s->type == S_IFDIR) return Error{EISDIR, std::string(name)};
    if (auto st = copy_up(*p, true); !st) return st;
    if (auto st = ensure_fds(*p); !st) return st;
    int up = upper_fd(*p);
    std::string n(name);
    pin_backing(*p, n);
    if (s->in_lower)
        if (auto st = make_whiteout(up, name); !st) return st;
    if (is_upper(s->layer)) {
        if (::unlinkat(up, n.c_str(), 0) < 0) return last_error("unlink " + n);
    } else if (s->type == S_IFREG) {
        count_gone(s->index_name);  // a lower name of a multiply-linked file is consumed
    }
    auto it = (*p)->children.find(n);
    if (it != (*p)->children.end()) detach(it->second);
    if (s->type == S_IFREG) notify_ino(s->ino, 0, false);
    changed(*p, name);
    return {};
}

Status UnionImpl::rmdir(uint64_t parent, std::string_view name) {
    std::lock_guard lk(mu_);
    begin();
    if (auto st = require_writable(); !st) return st;
    if (!valid_name(name) || is_reserved(name)) return Error{name == "." ? EINVAL : ENOENT, std::string(name)};
    auto p = get(parent);
    if (!p) return p.error();
    auto s = resolve(*p, name);
    if (!s) return s.error();
    if (s->type == 0) return Error{ENOENT, std::string(name)};
    if (s->type != S_IFDIR) return Error{ENOTDIR, std::string(name)};
    auto empty = is_empty_dir(*s);
    if (!empty) return empty.error();
    if (!*empty) return Error{ENOTEMPTY, std::string(name)};
    if (auto st = copy_up(*p, true); !st) return st;
    if (auto st = ensure_fds(*p); !st) return st;
    int up = upper_fd(*p);
    std::string n(name);
    if (s->in_lower)
        if (auto st = make_whiteout(up, name); !st) return st;
    if (is_upper(s->layer)) {
        if (auto st = clear_markers(s->dirs[0].fd.get()); !st) return st;
        if (::unlinkat(up, n.c_str(), AT_REMOVEDIR) < 0) return last_error("rmdir " + n);
    }
    auto it = (*p)->children.find(n);
    if (it != (*p)->children.end()) detach(it->second);
    changed(*p, name);
    return {};
}

Status UnionImpl::rename(uint64_t parent, std::string_view name, uint64_t newparent, std::string_view newname,
                         unsigned flags) {
    std::lock_guard lk(mu_);
    begin();
    if (auto st = require_writable(); !st) return st;
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Error{EINVAL, "rename flags"};
    if (!valid_name(name) || !valid_name(newname)) return Error{EINVAL, "bad name"};
    if (is_reserved(name)) return Error{ENOENT, std::string(name)};
    if (is_reserved(newname)) return Error{EPERM, "names starting with .wh. are reserved"};
    auto p = get(parent);
    if (!p) return p.error();
    auto np = get(newparent);
    if (!np) return np.error();
    auto s = resolve(*p, name);
    if (!s) return s.error();
    if (s->type == 0) return Error{ENOENT, std::string(name)};
    auto t = resolve(*np, newname);
    if (!t) return t.error();
    bool exchange = flags & RENAME_EXCHANGE;
    if (exchange && t->type == 0) return Error{ENOENT, std::string(newname)};
    if ((flags & RENAME_NOREPLACE) && t->type != 0) return Error{EEXIST, std::string(newname)};
    if (*p == *np && name == newname) return {};
    // No directory into its own subtree.
    for (Node* a = *np; a; a = a->parent)
        if (a->parent == *p && a->name == name && !a->unlinked)
            return Error{EINVAL, "rename of a directory into itself"};
    if (t->type != 0 && !exchange) {
        if (s->type == S_IFDIR && t->type != S_IFDIR) return Error{ENOTDIR, std::string(newname)};
        if (s->type != S_IFDIR && t->type == S_IFDIR) return Error{EISDIR, std::string(newname)};
        if (t->type == S_IFDIR) {
            auto e = is_empty_dir(*t);
            if (!e) return e.error();
            if (!*e) return Error{ENOTEMPTY, std::string(newname)};
        }
        if (s->type != S_IFDIR && s->ino == t->ino) return {};  // two names of one file
    }
    std::string sn(name), tn(newname);
    // Bring the source (and for an exchange the target) wholly into the upper.
    auto whole = [&](Node* dir, const std::string& nm) -> Status {
        auto it = dir->children.find(nm);
        Node* child = it != dir->children.end() ? it->second : nullptr;
        if (child) {
            if (auto st = fresh(child); !st) return st;
            if (auto st = copy_up(child, true); !st) return st;
            if (child->s.type == S_IFDIR) {
                if (auto st = ensure_fds(child); !st) return st;
                if (auto st = copy_up_tree(child->s.dirs); !st) return st;
            }
            return {};
        }
        State cs = resolve_in(dir->s.dirs, nm);
        if (!is_upper(cs.layer))
            if (auto st = copy_one_up(dir->s.dirs, upper_fd(dir), nm, cs, true); !st) return st;
        if (cs.type == S_IFDIR) {
            State c2 = resolve_in(dir->s.dirs, nm);
            if (auto st = copy_up_tree(c2.dirs); !st) return st;
        }
        return {};
    };
    if (auto st = copy_up(*p, true); !st) return st;
    if (auto st = copy_up(*np, true); !st) return st;
    if (auto st = ensure_fds(*p); !st) return st;
    if (auto st = ensure_fds(*np); !st) return st;
    if (auto st = whole(*p, sn); !st) return st;
    if (exchange)
        if (auto st = whole(*np, tn); !st) return st;
    if (auto st = ensure_fds(*p); !st) return st;
    if (auto st = ensure_fds(*np); !st) return st;
    int sfd = upper_fd(*p), tfd = upper_fd(*np);
    if (exchange) {
        if (::renameat2(sfd, sn.c_str(), tfd, tn.c_str(), RENAME_EXCHANGE) < 0) return last_error("rename exchange");
    } else {
        if (t->type == S_IFDIR && is_upper(t->layer)) {
            if (auto st = clear_markers(t->dirs[0].fd.get()); !st) return st;
        }
        if (s->in_lower)
            if (auto st = make_whiteout(sfd, name); !st) return st;
        if (t->type != 0 && t->type != S_IFDIR) pin_backing(*np, tn);
        if (::renameat(sfd, sn.c_str(), tfd, tn.c_str()) < 0) {
            Error e = last_error("rename " + sn);
            if (s->in_lower) (void)remove_whiteout(sfd, name);
            return e;
        }
        (void)remove_whiteout(tfd, newname);
    }
    // Move the nodes.
    auto take = [](Node* dir, const std::string& nm) -> Node* {
        auto it = dir->children.find(nm);
        if (it == dir->children.end()) return nullptr;
        Node* c = it->second;
        dir->children.erase(it);
        return c;
    };
    Node* src = take(*p, sn);
    Node* dst = take(*np, tn);
    auto place = [&](Node* c, Node* dir, const std::string& nm) {
        if (!c) return;
        if (c->parent != dir) {
            // Move the parent pin.
            c->parent = dir;
        }
        c->name = nm;
        dir->children[nm] = c;
    };
    if (exchange) {
        place(src, *np, tn);
        place(dst, *p, sn);
    } else {
        if (dst) {
            dst->parent->children[dst->name] = dst;  // re-attach so detach() can pin correctly
            detach(dst);
        }
        place(src, *np, tn);
    }
    if (src) refresh_subtree(src);
    if (exchange && dst) refresh_subtree(dst);
    if (!exchange && t->type == S_IFREG) notify_ino(t->ino, 0, false);
    changed(*p, name);
    changed(*np, newname);
    maybe_free(*p);
    return {};
}

Result<OpenFile> UnionImpl::open_file(uint64_t id, int flags) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.type == S_IFDIR) return Error{EISDIR, "open of a directory"};
    if ((*n)->s.whiteout_shown) return Error{ENXIO, "a whiteout"};
    bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (write) {
        if (auto st = require_writable(); !st) return st.error();
        if (auto st = copy_up(*n, !(flags & O_TRUNC)); !st) return st.error();
    }
    auto b = backing(*n);
    if (!b) return b.error();
    int f = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT);
    int fd = ::openat(b->first, b->second.c_str(), f | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return last_error("open " + (*n)->name);
    OpenFile of;
    of.fd = Fd(fd);
    struct stat st;
    if (::fstat(fd, &st) == 0) {
        Node* x = *n;
        of.keep_cache = !write && x->opened && x->open_dev == st.st_dev && x->open_ino == st.st_ino &&
                        x->open_size == st.st_size && x->open_mtime.tv_sec == st.st_mtim.tv_sec &&
                        x->open_mtime.tv_nsec == st.st_mtim.tv_nsec;
        x->opened = true;
        x->open_dev = st.st_dev;
        x->open_ino = st.st_ino;
        x->open_size = st.st_size;
        x->open_mtime = st.st_mtim;
    }
    return of;
}

Result<std::pair<Entry, OpenFile>> UnionImpl::create(uint64_t parent, std::string_view name, mode_t mode, int flags,
                                                     const Caller& c) {
    std::lock_guard lk(mu_);
    begin();
    bool wh = false;
    auto p = prepare_create(parent, name, &wh);
    if (!p) return p.error();
    int f = (flags & ~(O_NOCTTY | O_DIRECT)) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(upper_fd(*p), std::string(name).c_str(), f, mode & 07777);
    if (fd < 0) return last_error("create " + std::string(name));
    OpenFile of;
    of.fd = Fd(fd);
    auto e = finish_create(*p, name, wh, c);
    if (!e) return e.error();
    return std::make_pair(*e, std::move(of));
}

Result<std::vector<DirEntry>> UnionImpl::readdir(uint64_t id) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.type != S_IFDIR) return Error{ENOTDIR, "readdir"};
    auto l = list_merged((*n)->s.dirs);
    if (!l) return l.error();
    std::vector<DirEntry> out;
    out.reserve(l->size() + 2);
    out.push_back({".", (*n)->s.ino, DT_DIR});
    out.push_back({"..", (*n)->parent ? (*n)->parent->s.ino : (*n)->s.ino, DT_DIR});
    bool root = !(*n)->parent;
    for (auto& e : *l) {
        if (root && view_ == View::Upper && e.name == kWorkDir) continue;
        out.push_back({std::move(e.name), e.ino, e.type});
    }
    return out;
}

Result<std::string> UnionImpl::getxattr(uint64_t id, const std::string& name) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.whiteout_shown) return Error{ENODATA, name};
    auto b = backing(*n);
    if (!b) return b.error();
    std::string p = fd_path(b->first, b->second);
    ssize_t len = ::lgetxattr(p.c_str(), name.c_str(), nullptr, 0);
    if (len < 0) return last_error("getxattr " + name);
    std::string v(static_cast<size_t>(len), '\0');
    len = ::lgetxattr(p.c_str(), name.c_str(), v.data(), v.size());
    if (len < 0) return last_error("getxattr " + name);
    v.resize(static_cast<size_t>(len));
    return v;
}

Result<std::string> UnionImpl::listxattr(uint64_t id) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.whiteout_shown) return std::string();
    auto b = backing(*n);
    if (!b) return b.error();
    std::string p = fd_path(b->first, b->second);
    ssize_t len = ::llistxattr(p.c_str(), nullptr, 0);
    if (len < 0) return last_error("listxattr");
    std::string v(static_cast<size_t>(len), '\0');
    len = ::llistxattr(p.c_str(), v.data(), v.size());
    if (len < 0) return last_error("listxattr");
    v.resize(static_cast<size_t>(len));
    return v;
}

Status UnionImpl::change_xattr(uint64_t id, const std::string& what, const std::function<int(const char*)>& op) {
    std::lock_guard lk(mu_);
    begin();
    if (auto st = require_writable(); !st) return st;
    auto n = get(id);
    if (!n) return n.error();
    if (auto st = copy_up(*n, true); !st) return st;
    auto b = backing(*n);
    if (!b) return b.error();
    std::string p = fd_path(b->first, b->second);
    if (op(p.c_str()) < 0) return last_error(what);
    if ((*n)->parent) changed((*n)->parent, (*n)->name);
    return {};
}

Status UnionImpl::setxattr(uint64_t id, const std::string& name, const std::string& value, int flags) {
    return change_xattr(id, "setxattr " + name, [&](const char* p) {
        return ::lsetxattr(p, name.c_str(), value.data(), value.size(), flags);
    });
}

Status UnionImpl::removexattr(uint64_t id, const std::string& name) {
    return change_xattr(id, "removexattr " + name, [&](const char* p) { return ::lremovexattr(p, name.c_str()); });
}

Status UnionImpl::sync_dir(uint64_t id) {
    std::lock_guard lk(mu_);
    begin();
    auto n = get(id);
    if (!n) return n.error();
    if ((*n)->s.type != S_IFDIR || !is_upper((*n)->s.layer)) return {};
    auto d = open_at((*n)->s.dirs[0].fd.get(), ".", O_RDONLY | O_DIRECTORY);
    if (!d) return d.error();
    if (::fsync(d->get()) < 0) return last_error("fsync directory");
    return {};
}

Result<struct statvfs> UnionImpl::statfs() {
    struct statvfs sv;
    int fd = layers_[has_upper() ? upper_ : 0].root.get();
    if (::fstatvfs(fd, &sv) < 0) return last_error("statfs");
    return sv;
}

}  // namespace

Result<std::unique_ptr<Union>> Union::open(const Config& cfg) {
    auto u = std::make_unique<UnionImpl>();
    if (auto st = u->init(cfg); !st) return st.error();
    return std::unique_ptr<Union>(std::move(u));
}

}  // namespace hsbox::fusefs
