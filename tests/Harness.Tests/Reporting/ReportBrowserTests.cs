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
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_report_draws_every_chart_offline_and_shows_the_comparison_without_scrolling()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: ./test.sh installs Debian's chromium (scripts/setup.sh --with-browser)");
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

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            // No sandbox as root; no background traffic to Google's hosts, which this machine's closed network refuses.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var tab = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
        var errors = new List<string>();
        var requests = new List<string>();
        var dialogs = new List<string>();
        tab.Console += (_, message) => { if (message.Type == "error") errors.Add(message.Text); };
        tab.PageError += (_, error) => errors.Add(error);
        tab.Request += (_, request) => requests.Add(request.Url);
        tab.Dialog += (_, dialog) => { dialogs.Add(dialog.Message); _ = dialog.DismissAsync(); };

        await tab.GotoAsync(new Uri(page).AbsoluteUri);
        await tab.WaitForSelectorAsync("body[data-charts-drawn]", new() { Timeout = 15_000 });

        var screenshot = Path.Combine(AppContext.BaseDirectory, "report-1280x800.png");
        await tab.ScreenshotAsync(new() { Path = screenshot });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.Empty(errors);
        Assert.Equal([new Uri(page).AbsoluteUri], requests); // the page itself, nothing else: ECharts is inlined
        Assert.Empty(dialogs);

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
        Assert.Equal(6, painted.Length);
        Assert.All(painted, n => Assert.True(n > 2000, $"a chart painted only {n} pixels"));
        // The crash window is shaded on every time chart.
        var windows = await tab.EvaluateAsync<int[]>("() => [...document.querySelectorAll('[id^=time-]')].map(div => echarts.getInstanceByDom(div).getOption().series[0].markArea.data.length)");
        Assert.Equal([1, 1, 1], windows);
        // And the charts hold the run's data, not just axes: every second, and every ok answer, of each run.
        var okDrawn = await tab.EvaluateAsync<int[][]>("() => [...document.querySelectorAll('[id^=time-]')].map(div => { const ok = echarts.getInstanceByDom(div).getOption().series[0].data; return [ok.length, ok.reduce((n, p) => n + p[1], 0)]; })");
        Assert.Equal(sample.Runs.Select(r => new[] { r.Timeline!.Seconds.Count, r.Timeline.Seconds.Sum(s => s.Ok) }), okDrawn);
        var consistencyDrawn = await tab.EvaluateAsync<int[]>("() => [...document.querySelectorAll('[id^=ttc-]')].map(div => echarts.getInstanceByDom(div).getOption().series[0].data.reduce((n, v) => n + v, 0))");
        Assert.Equal(sample.Runs.Select(r => r.Timeline!.TimeToConsistency.Sum(b => b.Orders)), consistencyDrawn);

        // The hostile name is text, not markup.
        Assert.Equal("<script>alert(1)</script>: pass", await tab.InnerTextAsync("h1"));
        // Without scrolling: the verdict, the sentence saying who recovered faster, and the whole comparison table.
        Assert.True(await tab.EvaluateAsync<bool>("() => document.getElementById('glance').getBoundingClientRect().bottom <= window.innerHeight"),
            "the comparison table runs below the first screen");
        var summary = await tab.InnerTextAsync(".summary");
        Assert.Contains("local-table got back to pace sooner after the faults (1.0 s vs 3.0 s)", summary);
        Assert.Contains("at a cost of", summary);
        Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
    }
}
