import { useLocation } from "preact-iso";
import { useState } from "preact/hooks";
import { api, call } from "../api/client";
import { signedIn } from "../state";
import { Button, ErrorBox, Field, Page, useAction } from "../ui";

function back(): string {
  const to = new URLSearchParams(location.search).get("next");
  return to && to.startsWith("/") && !to.startsWith("//") ? to : "/";
}

export function Login() {
  const { route } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const s = await call(api.POST("/api/v1/auth/login", { body: { email, password } }));
      await signedIn(s);
      route(back());
    });
  };
  return (
    <Page title="Sign in">
      <form class="card form" onSubmit={submit}>
        <Field label="Email" name="email" type="email" value={email} onInput={setEmail} required autoComplete="username" />
        <Field label="Password" name="password" type="password" value={password} onInput={setPassword} required autoComplete="current-password" />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Sign in
        </Button>
        <p>
          New here? <a href={`/register${location.search}`}>Create an account</a> · <a href="/forgot-password">Forgot your password?</a>
        </p>
      </form>
    </Page>
  );
}

export function Register() {
  const [f, setF] = useState({ email: "", name: "", password: "", phone: "" });
  // The server's "check your mail" answer, the same for a new address and
  // one that already has an account: nobody is signed in until the mailed
  // link is followed.
  const [sent, setSent] = useState("");
  const a = useAction();
  const on = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const r = await call(
        api.POST("/api/v1/auth/register", {
          body: { email: f.email, name: f.name, password: f.password, phone: f.phone || undefined },
        }),
      );
      setSent(r.message);
    });
  };
  if (sent) {
    return (
      <Page title="Check your mail">
        <div class="card" role="status">
          <p>{sent}</p>
          <p>
            We wrote to <strong>{f.email}</strong>. The link works once and expires in 48 hours.
          </p>
          <p class="muted">
            Nothing arrived? Look in the spam folder, or <a href="/forgot-password">ask for a password reset</a> if you had an account already.
          </p>
        </div>
      </Page>
    );
  }
  return (
    <Page title="Create an account">
      <form class="card form" onSubmit={submit}>
        <Field label="Email" name="email" type="email" value={f.email} onInput={on("email")} required autoComplete="email" />
        <Field label="Name" name="name" value={f.name} onInput={on("name")} required autoComplete="name" />
        <Field label="Phone (optional)" name="phone" type="tel" value={f.phone} onInput={on("phone")} autoComplete="tel" />
        <Field label="Password" name="password" type="password" value={f.password} onInput={on("password")} required autoComplete="new-password" hint="At least 8 characters." />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Create account
        </Button>
        <p>
          Have an account? <a href={`/login${location.search}`}>Sign in</a>
        </p>
      </form>
    </Page>
  );
}
