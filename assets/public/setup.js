// Posts the first-admin form to the API with the token from the link.
const form = document.getElementById("setup");
const result = document.getElementById("result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = new URLSearchParams(location.search).get("token") || "";
  const data = Object.fromEntries(new FormData(form));
  result.textContent = "Creating…";
  const res = await fetch("/api/v1/auth/setup", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, email: data.email, name: data.name, password: data.password }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.ok) {
    result.textContent = `Admin ${body.user.email} created. You are signed in; the API docs are at /docs.`;
    form.remove();
  } else {
    result.textContent = body.detail || `Failed (${res.status})`;
  }
});
