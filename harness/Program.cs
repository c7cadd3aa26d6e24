using System.CommandLine;
using System.Runtime.InteropServices;
using Dtx.Harness.Cli;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Hosting;

namespace Dtx.Harness;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // The hidden command every service process runs: `harness service IMPLEMENTATION ROLE --name value …`.
        if (args is ["service", var implementation, var role, .. var rest]) return await RunServiceAsync(implementation, role, rest);
        if (args is ["infra-up-for-tests", var workDir, var mode]) return await Infrastructure.InfraUp.InfraUpForTestsAsync(workDir, mode);

        var root = new RootCommand("""
            Runs two ways of making a database change and a queue message happen together — the local message table
            (local-table) and RocketMQ-style half messages (half-message) — beside the naive baseline that does neither
            (dual-write) — on real PostgreSQL and RabbitMQ, crashes them at every protocol step, and checks eventual
            consistency and exactly-once effects.
            """)
        {
            ScenarioCommand.Create(),
            MutantsCommand.Create(),
            BenchCommand.Create(),
            ReportCommand.Create(),
            ListCommand(),
            ProxyServerCommand(),
        };
        // Piped into a file or a CI log, Spectre assumes 80 columns and wraps every table cell into slivers.
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 200;
        // No response files: '@path' would read any path (a folder, a device) before a single option is checked.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
            return BadInput(ParseErrors(parse));

        // Ctrl+C, SIGTERM and SIGHUP cancel the run, which then stops its services and servers in order. The
        // default handling would end the process at once and leave PostgreSQL and RabbitMQ behind.
        using var cancel = new CancellationTokenSource();
        void Cancel(PosixSignalContext context)
        {
            if (cancel.IsCancellationRequested) return; // a second signal: let it end the process (the reaper still kills children)
            context.Cancel = true;
            Console.Error.WriteLine($"{context.Signal}: stopping…");
            cancel.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Cancel);
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, cancel.Token);
    }

    /// <summary>
    /// Every parse error in one line, the telling ones first: for <c>harness bogus</c> the parser's first error is
    /// "Required command was not provided", which hides the word it did not know.
    /// </summary>
    private static string ParseErrors(ParseResult parse)
    {
        var messages = parse.Errors.Select(e => e.Message.TrimEnd('.')).Distinct().ToList();
        var missingCommand = messages.Remove("Required command was not provided");
        if (missingCommand) messages.Add("give a command: scenario, mutants, bench, report, scenarios or proxy (--help shows them)");
        return string.Join("; ", messages);
    }

    /// <summary>Bad input: one line on stderr, exit code 2, never a stack trace.</summary>
    public static int BadInput(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return ScenarioCommand.ExitBadInput;
    }

    private static Command ListCommand()
    {
        var command = new Command("scenarios", "List the scenarios shipped under scenarios/.");
        command.SetAction(_ =>
        {
            foreach (var name in ScenarioCatalog.Names())
            {
                try
                {
                    Console.WriteLine($"{name,-28} {ScenarioCatalog.Find(name).Description}");
                }
                catch (ScenarioException e)
                {
                    Console.WriteLine($"{name,-28} (invalid: {e.Message})");
                }
            }
            return 0;
        });
        return command;
    }

    private static Command ProxyServerCommand()
    {
        var listen = new Option<string>("--listen") { Description = "address of the Toxiproxy-compatible HTTP API", DefaultValueFactory = _ => "127.0.0.1:8474" };
        var command = new Command("proxy", "Serve the embedded Toxiproxy-compatible proxy on its own (Toxiproxy 2.x HTTP API) until Ctrl+C.") { listen };
        command.SetAction((parse, ct) => Proxy.ProxyCommand.RunAsync(parse.GetValue(listen)!, ct));
        return command;
    }

    private static async Task<int> RunServiceAsync(string implementation, string role, string[] rest)
    {
        if (ImplementationCatalog.Role(implementation, role) is not { } serviceRole)
            return BadInput($"no service role '{role}' in implementation '{implementation}'");
        try
        {
            // The host stops on SIGTERM by itself (the supervisor's polite stop); nothing else cancels a service.
            return await ServiceHost.RunAsync(serviceRole, ServiceOptions.Parse(implementation, role, rest), CancellationToken.None);
        }
        catch (ServiceOptionException e)
        {
            return BadInput(e.Message);
        }
    }
}
