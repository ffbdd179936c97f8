import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { PNG } from "pngjs";
import { API_PREFIX as API } from "../../src/resources/kinds.js";
import { TEST_IMAGE } from "../../support/engine.js";
import { commandMissing, requireComponent, requireEngine } from "../support/e2e.js";
import { SERVE_ADMIN_PASSWORD, ServeProcess } from "../support/serve.js";

const CHROMIUM = "/usr/bin/chromium";
const group = (name: string): string =>
  `apiVersion: airloft.dev/v1alpha1\nkind: Group\nmetadata:\n  name: ${name}\nspec:\n  provider: docker\n`;
const app = (groupName: string, name: string): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: ${name}
  group: ${groupName}
spec:
  image: ${TEST_IMAGE}
  command: ["sh", "-c", "echo ok > /www/index.html && exec httpd -f -p $PORT -h /www"]
  port: 8080
  healthCheck:
    http:
      path: /
    intervalSeconds: 1
`;

/** Share of pixels that differ from the page background: a blank or unstyled page scores near 0. */
function inkShare(png: Buffer): { share: number; colours: number } {
  const image = PNG.sync.read(png);
  const [r0, g0, b0] = [image.data[0] ?? 0, image.data[1] ?? 0, image.data[2] ?? 0];
  let ink = 0;
  const colours = new Set<number>();
  for (let i = 0; i < image.data.length; i += 4) {
    const [r, g, b] = [image.data[i] ?? 0, image.data[i + 1] ?? 0, image.data[i + 2] ?? 0];
    colours.add((r << 16) | (g << 8) | b);
    if (Math.abs(r - r0) + Math.abs(g - g0) + Math.abs(b - b0) > 30) ink++;
  }
  return { share: ink / (image.width * image.height), colours: colours.size };
}

describe("the status page in a real browser (Debian's chromium, headless)", function () {
  this.timeout(180_000);
  let server: ServeProcess;
  let browser: Browser;
  let admin: string;
  const pageErrors: string[] = [];

  before(async function () {
    requireComponent(this, "chromium", commandMissing("chromium", "apt-get install chromium"));
    const engine = await requireEngine(this);
    server = new ServeProcess({ DOCKER_HOST: engine.host });
    await server.start();
    admin = await server.token({ admin: "admin" }, SERVE_ADMIN_PASSWORD);
    for (const name of ["pageco", "otherco"]) {
      assert.equal((await server.api("POST", `${API}/apply`, admin, group(name))).status, 200);
      await fetch(`${server.url}/api/accounts/groups/${name}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ password: `${name}-password-1` }),
      });
    }
    assert.equal((await server.api("POST", `${API}/apply`, admin, app("pageco", "hello"))).status, 200);
    assert.equal((await server.api("POST", `${API}/apply`, admin, app("otherco", "hidden"))).status, 200);
    // A fresh profile (playwright makes one per launch); no background networking: the browser talks to 127.0.0.1 only.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async function () {
    this.timeout(90_000);
    await browser?.close();
    if (server?.url) await server.deleteGroups(["pageco", "otherco"]);
    await server?.stop();
    server?.remove();
  });

  const open = async (): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(msg.text());
    });
    await page.goto(server.url);
    return page;
  };
  const login = async (page: Page, kind: "group" | "admin", name: string, password: string): Promise<void> => {
    await page.selectOption("#login-kind", kind);
    await page.fill("#login-name", name);
    await page.fill("#login-password", password);
    await page.click("#login-submit");
  };
  const row = (page: Page, name: string) => page.locator(`#objects tbody tr`, { hasText: name });
  /** Waits until the row's Ready cell says exactly "Ready" ("Not ready" contains the word too). */
  const readyRow = (page: Page, name: string) =>
    row(page, name)
      .locator("td:nth-child(4)", { hasText: /^Ready$/ })
      .waitFor({ timeout: 60_000 });

  it("refuses a wrong password on the page", async () => {
    const page = await open();
    await login(page, "group", "pageco", "wrong-password");
    await page.waitForSelector("#login-error:has-text('wrong name or password')");
    assert.equal(await page.isVisible("#status"), false);
    await page.close();
  });

  it("shows a group its own objects with readiness, replicas and endpoints, updating live", async () => {
    const page = await open();
    await login(page, "group", "pageco", "pageco-password-1");
    await page.waitForSelector("#who:has-text('group pageco')");
    assert.equal(await page.isVisible("#login"), false, "the login form is gone once logged in");
    await readyRow(page, "hello");
    const cells = await row(page, "hello").locator("td").allTextContents();
    assert.equal(cells[0], "App");
    assert.equal(cells[1], "pageco");
    assert.equal(cells[3], "Ready");
    assert.equal(cells[4], "Converged");
    assert.equal(cells[5], "1/1");
    // Usage: "-" until the first stats passes, then millicores and requests per second.
    assert.match(cells[6] ?? "", /^(-|\d+m \d+\.\d\/s\s*)$/);
    assert.match(cells[7] ?? "", /127\.0\.0\.1:\d+/);
    assert.equal(await row(page, "hidden").count(), 0, "another group's app is not shown");

    // A change made elsewhere reaches the open page through the watch stream, without a reload.
    assert.equal((await server.api("POST", `${API}/apply`, admin, app("pageco", "second"))).status, 200);
    await row(page, "second").waitFor({ timeout: 30_000 });
    await readyRow(page, "second");

    // The events of the object clicked.
    await row(page, "hello").click();
    await page.waitForSelector("#details-title:has-text('app/pageco/hello')");
    await page.locator("#events tbody tr", { hasText: "created by apply" }).waitFor();

    // It renders: a screenshot with the table drawn, not a blank or unstyled page.
    const shot = await page.screenshot({ fullPage: true });
    // AIRLOFT_SCREENSHOT=FILE keeps it, to look at by eye.
    if (process.env.AIRLOFT_SCREENSHOT) writeFileSync(process.env.AIRLOFT_SCREENSHOT, shot);
    const { share, colours } = inkShare(shot);
    assert.ok(share > 0.05, `only ${(share * 100).toFixed(1)}% of the page is drawn`);
    assert.ok(colours > 20, `only ${colours} colours: styles did not apply`);
    const header = await page.evaluate<string>("getComputedStyle(document.querySelector('header')).backgroundColor");
    assert.equal(header, "rgb(29, 36, 51)", "the stylesheet applied");

    // Deleting shows Deleting, then the row goes.
    assert.equal((await server.api("DELETE", `${API}/groups/pageco/apps/second`, admin)).status, 200);
    await row(page, "second").waitFor({ state: "detached", timeout: 60_000 });
    await page.close();
  });

  it("draws each app's sparkline from the figures it polled: one point per stats pass, scaled to the highest", async () => {
    // The group's figures endpoint answers three known passes (then the last again, which the page skips as seen).
    const passes = [
      { cpu: 0.1, rps: 1 },
      { cpu: 0.4, rps: 2 },
      { cpu: 0.2, rps: 4 },
    ].map(({ cpu, rps }, i) => ({
      sampledAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i * 15)).toISOString(),
      replicas: [{ kind: "App", name: "hello", replica: "0", cpuCores: cpu, memoryBytes: 1, restarts: 0 }],
      apps: [{ name: "hello", requestsPerSecond: rps }],
    }));
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    let served = 0;
    await page.route("**/groups/pageco/metrics?format=json", (route) =>
      route.fulfill({ json: passes[Math.min(served++, passes.length - 1)] }),
    );
    await page.goto(server.url);
    await login(page, "group", "pageco", "pageco-password-1");
    const usage = row(page, "hello").locator("td.usage");
    await usage.filter({ hasText: "200m 4.0/s" }).waitFor({ timeout: 60_000 });
    const points = (cls: string) => usage.locator(`polyline.${cls}`).getAttribute("points");
    // 40 columns, the newest at the right edge; y runs from 19 (zero) up to 1 (the line's highest).
    assert.equal(await points("spark-cpu"), "37,14.50 38,1.00 39,10.00", "cpu 0.1, 0.4, 0.2 cores");
    assert.equal(await points("spark-rps"), "37,14.50 38,10.00 39,1.00", "1, 2, 4 requests per second");
    await page.close();
  });

  it("shows an admin every group", async () => {
    const page = await open();
    await login(page, "admin", "admin", SERVE_ADMIN_PASSWORD);
    await row(page, "hidden").waitFor();
    await row(page, "hello").waitFor();
    assert.equal((await page.locator("#objects tbody tr", { hasText: "otherco" }).count()) >= 2, true);
    await page.click("#logout");
    await page.waitForSelector("#login:visible");
    await page.close();
  });

  it("ran without script errors or policy violations", () => {
    assert.deepEqual(
      pageErrors.filter((e) => !/401|Unauthorized/.test(e)),
      [],
    );
  });
});
