using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Reporting;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Reporting;

/// <summary>
/// A generated index.html opened in headless Chromium (Debian's, driven by Playwright; no browser is downloaded), as a
/// reader on a 1280×800 screen would: it must draw every chart with no console error and no network request, shade
/// the fault windows, show the verdict and the comparison without scrolling, and render hostile names as text.
/// </summary>
// In the servers' collection although it needs no server: Chromium takes the machine's two cores while it starts,
// and beside the scenario and bench tests that would measure the machine instead of the code.
[Collection(Dtx.Tests.Support.ServersCollection.Name)]
public sealed class ReportBrowserTests(ITestOutputHelper output)
{

    [Fact]
    public async Task The_report_draws_every_chart_offline_and_shows_the_comparison_without_scrolling()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "dtx-report-" + Guid.NewGuid().ToString("N")[..8], "run")).FullName;
        var sample = SampleRuns.Result("<script>alert(1)</script>");
        await RunFolder.WriteAsync(folder, sample, default);
        var page = Path.Combine(folder, "index.html");
        // The page under test is the one `report` renders again from result.json alone, the folder given with the
        // trailing '/' a shell's completion adds: the round trip through result.json is part of what is tested.
        File.Delete(page);
        var report = await Dtx.Tests.Support.HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "report", folder + "/");
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.True(File.Exists(page), "report wrote no index.html");

        await using var browsing = await Browsing.OpenAsync(page);
        var tab = browsing.Tab;
        var screenshot = Path.Combine(AppContext.BaseDirectory, "report-1280x800.png");
        await tab.ScreenshotAsync(new() { Path = screenshot });
        await tab.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "report-full-page.png"), FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        browsing.AssertQuietAndOffline();

        // Every chart drawn: two per implementation, each a canvas with many painted pixels.
        var painted = await tab.EvaluateAsync<int[]>("""
            () => [...document.querySelectorAll('.chart')].map(div => {
              const canvas = div.querySelector('canvas');
              if (!canvas) return 0;
              const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
              let n = 0;
              for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) n++;
              return n;
            })
            """);
        Assert.Equal(15, painted.Length); // five per implementation: answers, time to consistency, backlog, CPU, memory
        Assert.All(painted, n => Assert.True(n > 2000, $"a chart painted only {n} pixels"));
        Assert.Equal("15", await tab.GetAttributeAsync("body", "data-charts-drawn"));
        // The crash window is shaded on every time chart, and every time chart shares one axis.
        foreach (var chart in new[] { "time", "backlog", "cpu", "memory" })
        {
            var windows = await tab.EvaluateAsync<int[]>($"() => [...document.querySelectorAll('[id^={chart}-]')].map(div => echarts.getInstanceByDom(div).getOption().series[0].markArea.data.length)");
            Assert.True(windows is [1, 1, 1], $"{chart}: fault windows {string.Join(",", windows)}");
            var axes = await tab.EvaluateAsync<double[]>($"() => [...document.querySelectorAll('[id^={chart}-]')].map(div => echarts.getInstanceByDom(div).getOption().xAxis[0].max)");
            Assert.All(axes, max => Assert.Equal(20, max));
        }
        // The samples are drawn, a second the sampler missed as a gap, and a process down as a gap in its own line only.
        var backlogDrawn = await tab.EvaluateAsync<int[]>("() => [...document.querySelectorAll('[id^=backlog-]')].map(div => echarts.getInstanceByDom(div).getOption().series.find(s => s.name === 'pending orders').data.filter(p => p[1] !== null).reduce((n, p) => n + p[1], 0))");
        Assert.Equal(sample.Runs.Select(r => r.Timeline!.Samples!.Sum(s => s.Backlog?.PendingOrders ?? 0)), backlogDrawn);
        var initiatorCpu = await tab.EvaluateAsync<int[]>("() => [...document.querySelectorAll('[id^=cpu-]')].map(div => echarts.getInstanceByDom(div).getOption().series.find(s => s.name === 'initiator').data.filter(p => p[1] !== null).length)");
        Assert.Equal([16, 16, 16], initiatorCpu); // 20 samples less the first, the two while it was down and the first after
        var series = await tab.EvaluateAsync<string[]>("() => echarts.getInstanceByDom(document.getElementById('backlog-0')).getOption().series.map(s => s.name)");
        Assert.Equal(["pending orders", "queued messages", "outbox rows"], series); // local-table has no half messages
        // And the charts hold the run's data, not just axes: every second, and every ok answer, of each run.
        var okDrawn = await tab.EvaluateAsync<int[][]>("() => [...document.querySelectorAll('[id^=time-]')].map(div => { const ok = echarts.getInstanceByDom(div).getOption().series[0].data; return [ok.length, ok.reduce((n, p) => n + p[1], 0)]; })");
        Assert.Equal(sample.Runs.Select(r => new[] { r.Timeline!.Seconds.Count, r.Timeline.Seconds.Sum(s => s.Ok) }), okDrawn);
        var consistencyDrawn = await tab.EvaluateAsync<int[]>("() => [...document.querySelectorAll('[id^=ttc-]')].map(div => echarts.getInstanceByDom(div).getOption().series[0].data.reduce((n, v) => n + v, 0))");
        Assert.Equal(sample.Runs.Select(r => r.Timeline!.TimeToConsistency.Sum(b => b.Orders)), consistencyDrawn);

        // The hostile name is text, not markup.
        Assert.Equal("<script>alert(1)</script>: pass", await tab.InnerTextAsync("h1"));
        // The baseline's violation names two orders, each traced; a log line's markup stays text.
        Assert.Equal(["ord-000121", "<b>ord</b>"], await tab.EvaluateAsync<string[]>("() => [...document.querySelectorAll('table.trace caption')].map(c => c.textContent)"));
        Assert.Equal(0, await tab.EvaluateAsync<int>("() => document.querySelectorAll('table.trace b, table.trace i').length"));
        Assert.Contains("<i>publish of <b>ord</b> failed</i>", await tab.EvaluateAsync<string>("() => document.querySelectorAll('table.trace')[1].textContent"));
        // Without scrolling: the verdict, the sentence saying who recovered faster, and the whole comparison table.
        Assert.True(await tab.EvaluateAsync<bool>("() => document.getElementById('glance').getBoundingClientRect().bottom <= window.innerHeight"),
            "the comparison table runs below the first screen");
        var summary = await tab.InnerTextAsync(".summary");
        Assert.Contains("local-table got back to pace sooner after the faults (1.0 s vs 3.0 s)", summary);
        Assert.Contains("at a cost of", summary);
        Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
    }

    [Fact]
    public async Task The_list_of_runs_shows_every_folder_newest_first_with_a_trend_per_scenario()
    {
        var reports = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "dtx-runs-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var night = new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero);
        // Three nights of crash-after-commit, the second one with half-message failing; one run of another scenario.
        for (var n = 0; n < 3; n++)
        {
            var sample = SampleRuns.Result() with { StartedAt = night.AddDays(n) };
            if (n == 1) sample = sample with { Runs = [.. sample.Runs.Select(r => r.Implementation == "half-message" ? r with { Verdict = Verdict.Fail } : r)] };
            await WriteRunAsync(reports, $"{night.AddDays(n):yyyyMMdd}-020000-crash-after-commit", sample);
        }
        // A mutant's run of the same scenario: it exists to fail, and must not read as a regression in the trend.
        var mutant = SampleRuns.Result() with { StartedAt = night.AddDays(2).AddHours(1) };
        await WriteRunAsync(reports, "20261130-030000-crash-after-commit", mutant with { Runs = [.. mutant.Runs.Select(r => r with { Verdict = Verdict.Fail, Mutant = "no-inbox-dedupe" })] });
        await WriteRunAsync(reports, "20261201-020000-x", SampleRuns.Result("<img src=x onerror=alert(1)>") with { StartedAt = night.AddDays(3) });
        // Two benches, an interrupted run (no result.json) and a folder of repeated runs (its own list, no result).
        for (var n = 0; n < 2; n++)
        {
            var bench = Directory.CreateDirectory(Path.Combine(reports, $"{night.AddDays(n):yyyyMMdd}-030000-bench")).FullName;
            await File.WriteAllTextAsync(Path.Combine(bench, "result.json"), System.Text.Json.JsonSerializer.Serialize(SampleRuns.Bench(night.AddDays(n).AddHours(1), 150 + 10 * n), ResultJson.Options));
        }
        Directory.CreateDirectory(Path.Combine(reports, "20261202-020000-interrupted"));
        var repeat = Directory.CreateDirectory(Path.Combine(reports, "repeat-20261202-040000-all")).FullName;
        await File.WriteAllTextAsync(Path.Combine(repeat, "index.html"), "<!doctype html><title>runs</title>");
        // The list is written whenever a run folder is: here by the last run's.
        await RunFolder.WriteAsync(Path.Combine(reports, "20261201-020000-x"), SampleRuns.Result("<img src=x onerror=alert(1)>") with { StartedAt = night.AddDays(3) }, default);

        await using var browsing = await Browsing.OpenAsync(Path.Combine(reports, "index.html"));
        var tab = browsing.Tab;
        await tab.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "runs-index.png"), FullPage = true });
        browsing.AssertQuietAndOffline();

        var rows = await tab.EvaluateAsync<string[][]>("() => [...document.querySelectorAll('#runs tr')].slice(1).map(tr => [...tr.cells].map(td => td.innerText))");
        Assert.Equal(["20261201-020000-x", "20261130-030000-crash-after-commit", "20261130-020000-crash-after-commit", "20261129-030000-bench", "20261129-020000-crash-after-commit",
            "20261128-030000-bench", "20261128-020000-crash-after-commit", "repeat-20261202-040000-all", "20261202-020000-interrupted"], rows.Select(r => r[0]));
        Assert.Equal(["pass", "fail", "pass", "pass", "fail", "pass", "pass", "", "incomplete"], rows.Select(r => r[2]));
        Assert.Contains("half-message: fail — 17.5 ok/s, p99 70 ms, consistent p99 1600 ms", rows[4][3]);
        Assert.Contains("bench: local-table 160 orders/s", rows[3][3]);
        Assert.Contains("no result.json", rows[8][3]);
        Assert.Equal(0, await tab.EvaluateAsync<int>("() => document.querySelectorAll('img').length")); // the hostile name is text

        // Two trend charts: crash-after-commit (run three times) and the benches; the other scenario ran once.
        Assert.Equal("2", await tab.GetAttributeAsync("body", "data-charts-drawn"));
        var trend = await tab.EvaluateAsync<string[]>("""
            () => echarts.getInstanceByDom(document.querySelector('.trend')).getOption().series
              .map(s => s.name + ':' + s.data.map(p => p.value[1] + (p.itemStyle ? '!' : '')).join(','))
            """);
        Assert.Contains("half-message ok/s:17.5,17.5!,17.5", trend);
        Assert.Contains("local-table p99 ms:1600,1600,1600", trend);
        Assert.Contains("dual-write ok/s:17.5,17.5,17.5", trend); // failed as expected is not a failure; the mutant's run is left out
        Assert.Equal("crash-after-commit · 20/s × 16 s", await tab.EvaluateAsync<string>("() => echarts.getInstanceByDom(document.querySelector('.trend')).getOption().title[0].text"));
        Directory.Delete(reports, recursive: true);
    }

    private static async Task WriteRunAsync(string reports, string name, ScenarioResult result)
    {
        var folder = Directory.CreateDirectory(Path.Combine(reports, name)).FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, "result.json"), ResultJson.Serialize(result));
        await RunFolder.WriteReportsAsync(folder, result, default);
    }

    /// <summary>
    /// A page open in headless Chromium on a 1280×800 screen, its charts drawn, with every console error, request
    /// and dialog it caused recorded.
    /// </summary>
    private sealed class Browsing : IAsyncDisposable
    {
        private const string Chromium = "/usr/bin/chromium";
        private readonly List<string> _errors = [], _requests = [], _dialogs = [];
        private IPlaywright _playwright = null!;
        private IBrowser _browser = null!;
        private string _url = "";

        public IPage Tab { get; private set; } = null!;

        public static async Task<Browsing> OpenAsync(string page)
        {
            Assert.True(File.Exists(Chromium), $"{Chromium} is missing: ./test.sh installs Debian's chromium (scripts/setup.sh --with-browser)");
            var browsing = new Browsing { _url = new Uri(page).AbsoluteUri };
            browsing._playwright = await Playwright.CreateAsync();
            browsing._browser = await browsing._playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = Chromium,
                Headless = true,
                // No sandbox as root; no background traffic to Google's hosts, which this machine's closed network refuses.
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var tab = browsing.Tab = await browsing._browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
            tab.Console += (_, message) => { if (message.Type == "error") browsing._errors.Add(message.Text); };
            tab.PageError += (_, error) => browsing._errors.Add(error);
            tab.Request += (_, request) => browsing._requests.Add(request.Url);
            tab.Dialog += (_, dialog) => { browsing._dialogs.Add(dialog.Message); _ = dialog.DismissAsync(); };
            await tab.GotoAsync(browsing._url);
            await tab.WaitForSelectorAsync("body[data-charts-drawn]", new() { Timeout = 15_000 });
            return browsing;
        }

        /// <summary>No script error, no dialog (a name that ran as markup would open one), and no request but the page's own: ECharts is inlined.</summary>
        public void AssertQuietAndOffline()
        {
            Assert.Empty(_errors);
            Assert.Equal([_url], _requests);
            Assert.Empty(_dialogs);
        }

        public async ValueTask DisposeAsync()
        {
            await _browser.DisposeAsync();
            _playwright.Dispose();
        }
    }
}
