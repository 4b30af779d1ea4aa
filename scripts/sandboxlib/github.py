"""A local stand-in for GitHub's REST API (what the DORA lead-time calculator reads), on
127.0.0.1 and a free port, serving seeded repositories' histories. Standard library only.

    GET /repos/{owner}/{repo}/compare/{base}...{head}   the commits reachable from head and not
        from base, oldest first. Without per_page/page: up to 250 commits, as GitHub answers;
        with them: that page (per_page default 30, at most 100) and a Link header (rel="next",
        "last", "first", "prev") as GitHub's pagination guide documents it. Unknown commit: 404.
    GET /repos/{owner}/{repo}/commits/{sha}             one commit; unknown: 422 "No commit found for SHA"
    GET /repos/{owner}/{repo}                           the repository (full_name, default_branch)
    GET /repos/{owner}/{repo}/branches/{branch}         a branch added with add_branch; else 404
                                                        "Branch not found" (branch-pipelines asks)
    GET /repos/{owner}/{repo}/pulls/{number}            a pull request added with add_pull (state,
                                                        head, labels, merged); else 404
    GET /repos/{owner}/{repo}/issues/{number}/labels    its labels
    GET /repos/{owner}/{repo}/issues/{number}/comments  its comments (per_page/page), oldest first
    POST /repos/{owner}/{repo}/issues/{number}/comments a new comment; PATCH
    /repos/{owner}/{repo}/issues/comments/{id} edits one. Writing needs the token, as on GitHub
    (none: 401 "Requires authentication"); github.comments(full_name, number) reads them back.

Repositories are private: a request needs `Authorization: Bearer <token>` (or `token <token>`)
with the seeded token; a wrong one is 401 "Bad credentials", none is 404 (as GitHub hides a
private repository). Every answer carries GitHub's X-RateLimit-* headers; `rate_limited = n`
makes the next n requests 403 "API rate limit exceeded" with X-RateLimit-Remaining: 0.

    with GitHubStandIn(token) as github:
        github.add_repository("octo-org/orders-api", [Commit(sha, time, message), ...])  # oldest first
        github.url   # GITHUB_API_URL
        github.requests  # [(path, query dict, status)]
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOCS = "https://docs.github.com/rest/commits/commits"
MAX_UNPAGINATED = 250
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int  # committer date, epoch seconds
    message: str
    author: str = "octocat"
    email: str = ""  # the commit author's email; empty: <author>@users.noreply.github.com


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class GitHubStandIn:
    def __init__(self, token: str) -> None:
        self.token = token
        self.repositories: dict[str, list[Commit]] = {}
        self.branches: dict[str, set[str]] = {}  # full name -> branches besides the default
        self.public: set[str] = set()  # repositories anyone may read (no token needed)
        self.pulls: dict[tuple[str, int], dict] = {}  # (full name, number) -> state, head, labels
        self.issue_comments: dict[tuple[str, int], list[dict]] = {}  # -> [{"id", "body"}], oldest first
        self.comment_ids = 0
        self.requests: list[tuple[str, dict, int]] = []
        self.rate_limited = 0
        self.used = 0
        self.lock = threading.Lock()
        self.server: _Server | None = None
        self.url = ""

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> "GitHubStandIn":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, port: int = 0) -> str:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._reply("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._reply("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._reply("PATCH")

            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                status, body, headers = stand_in.answer(self.path, self.headers.get("Authorization"), method, payload)
                raw = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="github-stand-in", daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def add_repository(self, full_name: str, commits: list[Commit]) -> None:
        """A repository whose default branch is `commits`, oldest first."""
        with self.lock:
            self.repositories[full_name] = list(commits)

    def add_branch(self, full_name: str, branch: str, public: bool = False) -> None:
        """A branch of `full_name` (the repository is created, without commits, if unknown;
        `public`: its repository and branches are readable without a token)."""
        with self.lock:
            self.repositories.setdefault(full_name, [])
            self.branches.setdefault(full_name, set()).add(branch)
            if public:
                self.public.add(full_name)

    def delete_branch(self, full_name: str, branch: str) -> None:
        with self.lock:
            self.branches.get(full_name, set()).discard(branch)

    def add_pull(self, full_name: str, number: int, head: str, sha: str, labels: tuple[str, ...] = (),
                 public: bool = False) -> None:
        """An open pull request of `full_name` from branch `head` at `sha` (its repository is
        created if unknown); its comments start empty."""
        with self.lock:
            self.repositories.setdefault(full_name, [])
            if public:
                self.public.add(full_name)
            self.pulls[(full_name, number)] = {"state": "open", "merged": False, "head": head, "sha": sha,
                                               "labels": list(labels)}
            self.issue_comments[(full_name, number)] = []

    def close_pull(self, full_name: str, number: int, merged: bool = True) -> None:
        with self.lock:
            self.pulls[(full_name, number)].update(state="closed", merged=merged)

    def comments(self, full_name: str, number: int) -> list[str]:
        """The bodies of a pull request's comments, oldest first."""
        with self.lock:
            return [c["body"] for c in self.issue_comments.get((full_name, number), [])]

    # -------------------------------------------------------------- answers
    def answer(self, raw_path: str, authorization: str | None, method: str = "GET",
               payload: bytes = b"") -> tuple[int, object, dict]:
        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        with self.lock:
            parts = path.strip("/").split("/")
            if len(parts) >= 5 and parts[0] == "repos" and parts[3] in ("pulls", "issues"):
                status, body, headers = self._pulls(method, parts, query, payload, authorization)
            elif method != "GET":
                status, body, headers = 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
            else:
                status, body, headers = self._answer(path, query, authorization)
            self.requests.append((path, query, status))
        return status, body, headers

    def _pulls(self, method: str, parts: list[str], query: dict, payload: bytes,
               authorization: str | None) -> tuple[int, object, dict]:
        """Pull requests, their labels and their (issue) comments."""
        headers = self._rate_headers()
        full_name = f"{parts[1]}/{parts[2]}"
        scheme, _, credential = (authorization or "").partition(" ")
        token_ok = bool(authorization) and scheme.lower() in ("bearer", "token") and credential == self.token
        if authorization and not token_ok:
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}, headers
        not_found = {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        if full_name not in self.repositories or not (token_ok or full_name in self.public):
            return 404, not_found, headers
        if method != "GET" and not token_ok:
            return 401, {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest",
                         "status": "401"}, headers
        self.used += 1
        if parts[3] == "issues" and parts[4] == "comments" and len(parts) == 6 and method == "PATCH":
            for comments in self.issue_comments.values():
                for comment in comments:
                    if str(comment["id"]) == parts[5]:
                        comment["body"] = json.loads(payload or b"{}").get("body", "")
                        comment["updated_at"] = _iso(int(time.time()))
                        return 200, comment, headers
            return 404, not_found, headers
        try:
            number = int(parts[4])
        except ValueError:
            return 404, not_found, headers
        pull = self.pulls.get((full_name, number))
        if pull is None:
            return 404, not_found, headers
        rest = parts[5:]
        if parts[3] == "pulls" and not rest and method == "GET":
            return 200, {"number": number, "state": pull["state"], "merged": pull["merged"],
                         "head": {"ref": pull["head"], "sha": pull["sha"]},
                         "labels": [{"name": name} for name in pull["labels"]],
                         "html_url": f"https://github.com/{full_name}/pull/{number}"}, headers
        if parts[3] == "issues" and rest == ["labels"] and method == "GET":
            return 200, [{"name": name} for name in pull["labels"]], headers
        if parts[3] == "issues" and rest == ["comments"]:
            comments = self.issue_comments.setdefault((full_name, number), [])
            if method == "POST":
                self.comment_ids += 1
                comment = {"id": self.comment_ids, "body": json.loads(payload or b"{}").get("body", ""),
                           "created_at": _iso(int(time.time())), "updated_at": _iso(int(time.time()))}
                comments.append(comment)
                return 201, comment, headers
            if method == "GET":
                try:
                    page = max(1, int(query.get("page", 1)))
                    per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", DEFAULT_PER_PAGE))))
                except ValueError:
                    page, per_page = 1, DEFAULT_PER_PAGE
                return 200, comments[(page - 1) * per_page: page * per_page], headers
        return 404, not_found, headers

    def _rate_headers(self) -> dict:
        remaining = 0 if self.rate_limited else max(0, RATE_LIMIT - self.used)
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Used": str(self.used), "X-RateLimit-Reset": str(int(time.time()) + 3600),
                "X-RateLimit-Resource": "core", "X-GitHub-Media-Type": "github.v3; format=json"}

    def _answer(self, path: str, query: dict, authorization: str | None) -> tuple[int, object, dict]:
        headers = self._rate_headers()
        if self.rate_limited:
            self.rate_limited -= 1
            return 403, {"message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                                    "please include the request ID.",
                         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                         "status": "403"}, headers
        scheme, _, credential = (authorization or "").partition(" ")
        if authorization and (scheme.lower() not in ("bearer", "token") or credential != self.token):
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}, headers
        self.used += 1
        headers = self._rate_headers()
        parts = path.strip("/").split("/")
        not_found = {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        if len(parts) >= 3 and parts[0] == "repos" and (len(parts) == 3 or parts[3] == "branches"):
            full_name = f"{parts[1]}/{parts[2]}"
            if full_name not in self.repositories or not (authorization or full_name in self.public):
                return 404, not_found, headers
            if len(parts) == 3:
                return 200, {"full_name": full_name, "default_branch": "main", "private": True}, headers
            branch = "/".join(parts[4:])
            if branch == "main" or branch in self.branches.get(full_name, set()):
                return 200, {"name": branch, "protected": False,
                             "_links": {"html": f"https://github.com/{full_name}/tree/{branch}"}}, headers
            return 404, {"message": "Branch not found", "documentation_url": "https://docs.github.com/rest/branches/branches#get-a-branch",
                         "status": "404"}, headers
        if len(parts) < 5 or parts[0] != "repos" or parts[3] not in ("compare", "commits"):
            return 404, not_found, headers
        full_name = f"{parts[1]}/{parts[2]}"
        commits = self.repositories.get(full_name)
        if commits is None or not authorization:
            return 404, not_found, headers
        rest = "/".join(parts[4:])
        if parts[3] == "commits":
            found = self._find(commits, rest)
            if found is None:
                return 422, {"message": f"No commit found for SHA: {rest}", "documentation_url": f"{DOCS}#get-a-commit",
                             "status": "422"}, headers
            index, commit = found
            return 200, {**self._commit(full_name, commits, index),
                         "stats": {"total": 2, "additions": 1, "deletions": 1}, "files": []}, headers
        base_ref, sep, head_ref = rest.partition("...")
        base, head = self._find(commits, base_ref) if sep else None, self._find(commits, head_ref) if sep else None
        if base is None or head is None:
            return 404, not_found, headers
        (base_index, _), (head_index, _) = base, head
        ahead = list(range(base_index + 1, head_index + 1))
        behind = max(0, base_index - head_index)
        paginated = "page" in query or "per_page" in query
        try:
            page = max(1, int(query.get("page", 1)))
            per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", DEFAULT_PER_PAGE))))
        except ValueError:
            page, per_page = 1, DEFAULT_PER_PAGE
        if paginated:
            chosen = ahead[(page - 1) * per_page: page * per_page]
            last = max(1, -(-len(ahead) // per_page))
            links = []
            if page < last:
                links += [self._link(path, per_page, page + 1, "next"), self._link(path, per_page, last, "last")]
            if page > 1:
                links += [self._link(path, per_page, 1, "first"), self._link(path, per_page, min(page - 1, last), "prev")]
            if links:
                headers["Link"] = ", ".join(links)
        else:
            chosen = ahead[:MAX_UNPAGINATED]
        status = "identical" if not ahead and not behind else "ahead" if not behind else "behind" if not ahead else "diverged"
        base_commit = self._commit(full_name, commits, base_index)
        comparison = {
            "url": f"{self.url}/repos/{full_name}/compare/{rest}",
            "html_url": f"https://github.com/{full_name}/compare/{rest}",
            "permalink_url": f"https://github.com/{full_name}/compare/{full_name.split('/')[0]}:{commits[base_index].sha[:7]}...{full_name.split('/')[0]}:{commits[head_index].sha[:7]}",
            "diff_url": f"https://github.com/{full_name}/compare/{rest}.diff",
            "patch_url": f"https://github.com/{full_name}/compare/{rest}.patch",
            "base_commit": base_commit,
            "merge_base_commit": base_commit if behind == 0 else self._commit(full_name, commits, head_index),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "commits": [self._commit(full_name, commits, i) for i in chosen],
        }
        if not paginated or page == 1:  # the changed files are on the first page only
            comparison["files"] = []
        return 200, comparison, headers

    def _link(self, path: str, per_page: int, page: int, rel: str) -> str:
        return f'<{self.url}{urllib.parse.quote(path)}?per_page={per_page}&page={page}>; rel="{rel}"'

    @staticmethod
    def _find(commits: list[Commit], ref: str) -> tuple[int, Commit] | None:
        """A commit by full SHA or a prefix of at least 7 characters (as git abbreviates)."""
        if len(ref) < 7:
            return None
        for index, commit in enumerate(commits):
            if commit.sha == ref or (len(ref) < 40 and commit.sha.startswith(ref)):
                return index, commit
        return None

    def _commit(self, full_name: str, commits: list[Commit], index: int) -> dict:
        c = commits[index]
        api = f"{self.url}/repos/{full_name}"
        person = {"name": c.author, "email": c.email or f"{c.author}@users.noreply.github.com", "date": _iso(c.time)}
        user = {"login": c.author, "id": 583231, "type": "User", "site_admin": False,
                "url": f"{self.url}/users/{c.author}", "html_url": f"https://github.com/{c.author}"}
        parents = [{"sha": commits[index - 1].sha, "url": f"{api}/commits/{commits[index - 1].sha}",
                    "html_url": f"https://github.com/{full_name}/commit/{commits[index - 1].sha}"}] if index > 0 else []
        return {
            "sha": c.sha,
            "node_id": f"C_{c.sha[:20]}",
            "commit": {"author": person, "committer": person, "message": c.message,
                       "tree": {"sha": c.sha[::-1], "url": f"{api}/git/trees/{c.sha[::-1]}"},
                       "url": f"{api}/git/commits/{c.sha}", "comment_count": 0,
                       "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None}},
            "url": f"{api}/commits/{c.sha}",
            "html_url": f"https://github.com/{full_name}/commit/{c.sha}",
            "comments_url": f"{api}/commits/{c.sha}/comments",
            "author": user,
            "committer": user,
            "parents": parents,
        }
