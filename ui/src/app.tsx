import { lazy, LocationProvider, Route, Router, useLocation } from "preact-iso";
import { useEffect, useState } from "preact/hooks";
import { connect, disconnect, subscribe, useLiveStatus } from "./live";
import { flush, mine, onOutboxChange } from "./outbox";
import { count, onCartChange } from "./cart";
import { loadSession, refreshUnread, signOut, useSession } from "./state";
import { Login, Register } from "./pages/auth";
import { Cart, Checkout, OrderPage, Orders, ProductPage, ShopPage, Shops } from "./pages/student";
import { Account, Notifications } from "./pages/account";
import { Skeleton } from "./ui";
import { api, call, type S } from "./api/client";
import { Verify, ResetPassword, ForgotPassword } from "./pages/recover";

// Vendor, runner and admin screens load on demand: a student never
// downloads them.
const Vendor = lazy(() => import("./pages/vendor").then((m) => m.VendorHome));
const VendorHistory = lazy(() => import("./pages/vendor").then((m) => m.BatchHistory));
const VendorBatch = lazy(() => import("./pages/vendor").then((m) => m.BatchPage));
const VendorProducts = lazy(() => import("./pages/setup").then((m) => m.Products));
const VendorSlots = lazy(() => import("./pages/setup").then((m) => m.Slots));
const VendorSettings = lazy(() => import("./pages/setup").then((m) => m.ShopSettings));
const VendorAnnouncements = lazy(() => import("./pages/setup").then((m) => m.Announcements));
const VendorOrders = lazy(() => import("./pages/vendor-orders").then((m) => m.VendorOrders));
const VendorOrder = lazy(() => import("./pages/vendor-orders").then((m) => m.VendorOrder));
const VendorInbox = lazy(() => import("./pages/vendor-orders").then((m) => m.VendorInbox));
const VendorEarnings = lazy(() => import("./pages/earnings").then((m) => m.Earnings));
const Runs = lazy(() => import("./pages/vendor").then((m) => m.Runs));
const Admin = lazy(() => import("./pages/admin").then((m) => m.AdminHome));
const AdminUser = lazy(() => import("./pages/admin").then((m) => m.AdminUserPage));
const AdminShop = lazy(() => import("./pages/admin").then((m) => m.AdminShopPage));

function useOnline() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    addEventListener("online", on);
    addEventListener("offline", off);
    return () => {
      removeEventListener("online", on);
      removeEventListener("offline", off);
    };
  }, []);
  return online;
}

function Nav() {
  const s = useSession();
  const { path } = useLocation();
  const [items, setItems] = useState(count());
  const [, setOutboxVersion] = useState(0);
  const queued = s.me ? mine().length : 0;
  useEffect(() => onCartChange(() => setItems(count())), []);
  useEffect(() => onOutboxChange(() => setOutboxVersion((v) => v + 1)), []);
  const link = (href: string, text: string, extra?: preact.ComponentChildren) => {
    const current = href === "/" ? path === "/" || path.startsWith("/shops") : path.startsWith(href);
    return (
      <a href={href} aria-current={current ? "page" : undefined}>
        {text}
        {extra}
      </a>
    );
  };
  return (
    <header class="top">
      <a class="brand" href="/">
        <img src="/favicon.svg" alt="" width="24" height="24" /> Uphill
      </a>
      <nav aria-label="Main">
        {link("/", "Shops")}
        {s.me && link("/orders", "Orders", queued > 0 ? <span class="count" aria-label={`${queued} waiting`}>{queued}</span> : null)}
        {link("/cart", "Cart", items > 0 ? <span class="count" aria-label={`${items} items`}>{items}</span> : null)}
        {s.shop && link("/vendor", "My shop")}
        {s.runner && link("/runs", "Runs")}
        {s.me?.admin && link("/admin", "Admin")}
        {s.me &&
          link(
            "/notifications",
            "Notifications",
            s.unread > 0 ? (
              <span class="count" data-testid="unread" aria-label={`${s.unread} unread`}>
                {s.unread}
              </span>
            ) : null,
          )}
        {s.me ? link("/account", "Account") : link("/login", "Sign in")}
      </nav>
    </header>
  );
}

function OfflineBanner() {
  const online = useOnline();
  if (online) return null;
  return (
    <p class="banner" role="status">
      You are offline. Shops and your orders show what was last loaded; new orders wait for the network.
    </p>
  );
}

/**
 * Says when live updates are not coming: lost and retrying (after a few
 * seconds, so a page load's connect does not flash it), or moved to
 * another tab. Offline has its own banner.
 */
function LiveBanner() {
  const s = useSession();
  const status = useLiveStatus();
  const online = useOnline();
  const [late, setLate] = useState(false);
  useEffect(() => {
    setLate(false);
    if (status !== "connecting") return;
    const t = setTimeout(() => setLate(true), 3000);
    return () => clearTimeout(t);
  }, [status]);
  if (!s.me || !online) return null;
  if (status === "elsewhere") {
    return (
      <p class="banner" role="status" data-testid="live-banner">
        Live updates are on in another tab.{" "}
        <button class="linkish" type="button" onClick={connect}>
          Show them here
        </button>
      </p>
    );
  }
  if (status === "connecting" && late) {
    return (
      <p class="banner" role="status" data-testid="live-banner">
        Not live: reconnecting… What you see may be out of date.
      </p>
    );
  }
  return null;
}

/**
 * Admins see open incidents on every page. Re-read every 30 s, on a
 * notification, and when the admin screens change something.
 */
function AlertBanner() {
  const s = useSession();
  const [active, setActive] = useState<S["IncidentView"][]>([]);
  const admin = !!s.me?.admin;
  useEffect(() => {
    if (!admin) return setActive([]);
    let live = true;
    const load = () => call(api.GET("/api/v1/admin/alerts")).then((a) => live && setActive(a.active), () => {});
    load();
    const timer = setInterval(load, 30000);
    const off = subscribe((e) => e.event === "notification" && load());
    addEventListener("uphill:alerts", load);
    return () => {
      live = false;
      clearInterval(timer);
      off();
      removeEventListener("uphill:alerts", load);
    };
  }, [admin, s.me?.id]);
  if (active.length === 0) return null;
  return (
    <p class="alert-banner" role="alert" data-testid="alert-banner">
      <strong>{active.length === 1 ? "1 open alert" : `${active.length} open alerts`}:</strong> {active.map((i) => i.title).join("; ")}. <a href="/admin/alerts">See alerts</a>
    </p>
  );
}

function NotFound() {
  return (
    <section class="page">
      <h1>Not found</h1>
      <p>
        <a href="/">Back to the shops</a>
      </p>
    </section>
  );
}

export function App() {
  const s = useSession();
  useEffect(() => {
    loadSession();
    const back = () => flush();
    addEventListener("online", back);
    return () => removeEventListener("online", back);
  }, []);
  useEffect(() => {
    if (!s.me) return;
    connect();
    flush();
    const off = subscribe((e) => {
      if (e.event === "notification" || e.event === "broadcast") refreshUnread();
    });
    return () => {
      off();
      disconnect();
    };
  }, [s.me?.id]);
  return (
    <LocationProvider>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Nav />
      <OfflineBanner />
      <LiveBanner />
      <AlertBanner />
      <main id="main">
        {s.me === undefined ? (
          <Skeleton lines={6} />
        ) : (
          <Router>
            <Route path="/" component={Shops} />
            <Route path="/shops/:id" component={ShopPage} />
            <Route path="/products/:id" component={ProductPage} />
            <Route path="/cart" component={Cart} />
            <Route path="/checkout/:shop" component={Checkout} />
            <Route path="/orders" component={Orders} />
            <Route path="/orders/:id" component={OrderPage} />
            <Route path="/notifications" component={Notifications} />
            <Route path="/account" component={Account} />
            <Route path="/login" component={Login} />
            <Route path="/register" component={Register} />
            <Route path="/forgot-password" component={ForgotPassword} />
            <Route path="/reset-password" component={ResetPassword} />
            <Route path="/verify-email" component={Verify} />
            <Route path="/vendor" component={Vendor} />
            <Route path="/vendor/batches" component={VendorHistory} />
            <Route path="/vendor/batches/:id" component={VendorBatch} />
            <Route path="/vendor/orders" component={VendorOrders} />
            <Route path="/vendor/orders/:id" component={VendorOrder} />
            <Route path="/vendor/inbox" component={VendorInbox} />
            <Route path="/vendor/products" component={VendorProducts} />
            <Route path="/vendor/slots" component={VendorSlots} />
            <Route path="/vendor/settings" component={VendorSettings} />
            <Route path="/vendor/announcements" component={VendorAnnouncements} />
            <Route path="/vendor/earnings" component={VendorEarnings} />
            <Route path="/runs" component={Runs} />
            <Route path="/runs/:id" component={VendorBatch} />
            <Route path="/admin" component={Admin} />
            <Route path="/admin/users/:id" component={AdminUser} />
            <Route path="/admin/shops/:id" component={AdminShop} />
            <Route path="/admin/:tab" component={Admin} />
            <Route default component={NotFound} />
          </Router>
        )}
      </main>
      <footer class="foot">
        <a href="/docs">API docs</a>
        {s.me && (
          <button class="linkish" type="button" onClick={() => signOut().then(() => location.assign("/"))}>
            Sign out
          </button>
        )}
      </footer>
    </LocationProvider>
  );
}
