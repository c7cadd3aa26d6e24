namespace Dtx.Harness.Infrastructure;

/// <summary>Linux signal numbers (the same on x86-64 and arm64), for <see cref="ChildProcess.Signal"/>.</summary>
public static class Signals
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
}
