// Package apply is configuration as code for nines: `nines apply -f FILE` reads a YAML
// file that declares tenants with their users, groups (with members) and applications
// (OIDC clients), and makes a running server match it through the admin REST API.
//
// Apply is idempotent. It first reads everything it needs (the plan), then writes only
// what differs, printing one line per change and a summary; a second apply of the same
// file prints "no changes" and sends no write request. With DryRun it stops after the
// plan and prints the diff. The file is checked locally with the domain packages' rules
// (tenant, user, client) before the server is contacted, and every problem is reported
// at once with the file name and the YAML path, e.g. tenants[0].users[2].email.
//
// What apply manages, and what it leaves alone:
//
//   - It creates and updates; it never deletes a tenant, user, group or application that
//     is missing from the file (a later "prune" can). The one exception is group
//     membership: for a group whose "members" key is present, the list is the complete
//     membership, so members on the server that the file does not list are removed
//     ("members: []" empties the group). A group without a "members" key keeps its
//     members untouched. A membership is small, has no data of its own and is cheap to
//     restore, while "add only" would make removing someone from a group impossible to
//     express in the file.
//   - Optional fields of tenants, users and groups that the file omits (status, email,
//     given_name, description, ...) are not managed: the server's value is kept. An
//     explicit empty string clears a field. An application is declared completely: an
//     omitted grant_types, response_types or token_endpoint_auth_method means the
//     server's default (client.Application.ApplyDefaults), so a re-apply after a manual
//     change restores the file's state. client_id and type are immutable; a file that
//     changes an application's type is an error, never a silent re-create.
//   - Tenant policy fields (primary_color, lockout_threshold, lockout_duration_seconds,
//     user_import) are managed when present, like other optional fields; 0 for a lockout
//     field is its default, and user_import {url: ""} removes the import source.
//     key_generation is not a field but a count of signing-key rotations: when the
//     file's is greater than the server's, apply rotates once per missing
//     generation (at most 5 per apply; more is an error in the file, because each
//     rotation drops the previous keys); when it is lower, apply does nothing and
//     prints a note on stderr, since keys never roll back. An application's
//     id_token_signed_response_alg (default RS256) and jwks (a YAML mapping; omitted =
//     none) are part of its complete declaration.
//   - A password (inline "password", or "password_file" relative to the YAML file) is
//     set only when the user is created. It cannot be compared, so a re-apply never
//     resets it. No environment variable expansion is done anywhere in the file: what
//     the file says is what is applied, and a "${VAR}" is taken literally.
//
// This package must never print, log or put into an error a secret other than a client
// secret the server generates for apply: when an application is created, or when the
// file switches one to a secret-based token_endpoint_auth_method (the server makes no
// secret on PATCH, so apply asks for one). Each is shown exactly once: on stdout in a
// marked block, or appended as a JSON line {tenant, client_id, client_secret} to the
// secrets file (mode 0600; one readable by others is refused before any write), and
// then only the file's path is printed. Passwords, the admin token and request
// bodies are never printed. It must never send the admin token over plain HTTP to a host
// other than loopback, and its default HTTP client never follows a redirect with it.
package apply
