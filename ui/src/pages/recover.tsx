// The pages the mailed links open (`/verify-email?token=…`,
// `/reset-password?token=…`, see assets/mail/), and the form that asks for
// a reset link. The server judges every token; the page only says what it
// answered (the problem's detail on a refusal).
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../api/client";
import { loadSession, signedIn } from "../state";
import { Button, ErrorBox, Field, Page, Skeleton, useAction } from "../ui";

const MIN_PASSWORD = 8;
const MAX_PASSWORD = 128;

/** The `token` of the link, or "" when the link lost it. */
function tokenFromLink(): string {
  return (new URLSearchParams(location.search).get("token") ?? "").trim();
}

function Incomplete() {
  return (
    <p class="error" role="alert">
      This link has no token: open the whole link from the mail (some mail apps cut long links in two).
    </p>
  );
}

export function Verify() {
  const [token] = useState(tokenFromLink);
  const [done, setDone] = useState("");
  const a = useAction();
  // A POST from the page, not the GET of the link: mail scanners that
  // prefetch links run no script, so they cannot use up the token.
  useEffect(() => {
    if (!token) return;
    a.run(async () => {
      // The link signs its account in (it reached the mailbox).
      const s = await call(api.POST("/api/v1/auth/verify-email/confirm", { body: { token } }));
      await signedIn(s);
      setDone(s.user.email);
    });
  }, [token]);
  return (
    <Page title="Confirm your email">
      {!token ? (
        <Incomplete />
      ) : done ? (
        <div class="card" role="status">
          <p>
            Thank you: <strong>{done}</strong> is confirmed. You are signed in.
          </p>
          <a href="/">Go to the shops</a>
        </div>
      ) : a.error ? (
        <>
          <ErrorBox error={a.error} />
          <p class="muted">
            Signed in? Your <a href="/account">account page</a> can send a fresh link.
          </p>
        </>
      ) : (
        <>
          <p role="status">Confirming…</p>
          <Skeleton lines={1} />
        </>
      )}
    </Page>
  );
}

/** Client-side checks of a new password; the server checks again. */
export function passwordProblem(password: string, repeat: string): string | null {
  if (password.length < MIN_PASSWORD) return `The new password needs at least ${MIN_PASSWORD} characters.`;
  if (password.length > MAX_PASSWORD) return `The new password can have at most ${MAX_PASSWORD} characters.`;
  if (password !== repeat) return "The two passwords differ.";
  return null;
}

export function ResetPassword() {
  const [token] = useState(tokenFromLink);
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [done, setDone] = useState(false);
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    const problem = passwordProblem(password, repeat);
    if (problem) return a.setError(problem);
    a.run(async () => {
      await call(api.POST("/api/v1/auth/password-reset/confirm", { body: { token, password } }));
      setDone(true);
      // Every session of the account ended, this tab's too if it was theirs.
      await loadSession();
    });
  };
  return (
    <Page title="Choose a new password">
      {!token ? (
        <Incomplete />
      ) : done ? (
        <div class="card" role="status">
          <p>Your password is changed, and every device signed in to your account was signed out.</p>
          <a class="btn btn-primary" href="/login">
            Sign in
          </a>
        </div>
      ) : (
        <form class="card form" onSubmit={submit} noValidate>
          <Field
            label="New password"
            name="new-password"
            type="password"
            value={password}
            onInput={setPassword}
            required
            maxLength={MAX_PASSWORD}
            autoComplete="new-password"
            hint={`${MIN_PASSWORD} to ${MAX_PASSWORD} characters.`}
          />
          <Field label="Repeat the new password" name="repeat-password" type="password" value={repeat} onInput={setRepeat} required maxLength={MAX_PASSWORD} autoComplete="new-password" />
          <ErrorBox error={a.error} />
          <Button type="submit" busy={a.busy}>
            Set the new password
          </Button>
          <p class="muted">
            Link expired? <a href="/forgot-password">Ask for a new one</a>.
          </p>
        </form>
      )}
    </Page>
  );
}

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState("");
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(api.POST("/api/v1/auth/password-reset/request", { body: { email } }));
      setSent(email);
    });
  };
  return (
    <Page title="Forgot your password?">
      {sent ? (
        <div class="card" role="status">
          <p>
            If an account uses <strong>{sent}</strong>, a link to choose a new password is on its way. Check your mail (and its spam folder).
          </p>
          <a href="/login">Back to sign in</a>
        </div>
      ) : (
        <form class="card form" onSubmit={submit}>
          <Field label="Email" name="email" type="email" value={email} onInput={setEmail} required autoComplete="email" />
          <ErrorBox error={a.error} />
          <Button type="submit" busy={a.busy}>
            Mail me a link
          </Button>
        </form>
      )}
    </Page>
  );
}
