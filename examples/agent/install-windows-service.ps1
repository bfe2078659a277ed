<#
.SYNOPSIS
  Installs the Bulwark agent as a Windows service with NSSM (see docs/agent.md, "Run as a service").

.DESCRIPTION
  Node.js programs (the npm package and the single executable alike) do not speak the Service Control Manager's
  protocol, so `sc.exe create` alone gives a service that Windows kills after 30 s (error 1053). NSSM
  (https://nssm.cc, one nssm.exe) runs the agent as a service: it starts `bulwark agent run`, sends Ctrl+C on stop
  (a clean stop), restarts it after a crash, and with AppExit 3 = Exit leaves it stopped when the server revoked or
  quarantined the agent (restarting could not help: it refuses to start until enrolled anew).

  Run in an elevated PowerShell after enrolling once:
    bulwark agent enroll --server https://bulwark.example.com --token-file C:\token.txt
    .\install-windows-service.ps1 -Nssm C:\tools\nssm.exe -Bulwark 'C:\Program Files\Bulwark\bulwark.exe'
#>
param(
  [Parameter(Mandatory = $true)][string]$Nssm,
  # The single executable (bulwark.exe), or node.exe with -Arguments pointing at the npm package's bin\bulwark.js.
  [Parameter(Mandatory = $true)][string]$Bulwark,
  [string]$Arguments = '',
  [string]$StateDir = (Join-Path $env:ProgramData 'Bulwark\agent'),
  [string]$Name = 'BulwarkAgent'
)
$ErrorActionPreference = 'Stop'
if (-not (Test-Path (Join-Path $StateDir 'agent.json'))) {
  throw "$StateDir holds no enrolled agent: run bulwark agent enroll first"
}
$logDir = Join-Path $StateDir 'logs'
New-Item -ItemType Directory -Force -Path $logDir | Out-Null
& $Nssm install $Name $Bulwark "$Arguments agent run --state-dir `"$StateDir`"".Trim()
& $Nssm set $Name DisplayName 'Bulwark agent'
& $Nssm set $Name Description 'Bulwark agent: inventory and signed hunt, mitigate and verify jobs'
& $Nssm set $Name Start SERVICE_AUTO_START
& $Nssm set $Name ObjectName LocalSystem
# A clean stop: Ctrl+C first (the agent's SIGINT), then give it 30 s.
& $Nssm set $Name AppStopMethodConsole 30000
& $Nssm set $Name AppExit Default Restart
& $Nssm set $Name AppExit 0 Exit
& $Nssm set $Name AppExit 2 Exit
& $Nssm set $Name AppExit 3 Exit
& $Nssm set $Name AppRestartDelay 10000
# One JSON object per line on standard error.
& $Nssm set $Name AppStderr (Join-Path $logDir 'agent.log')
& $Nssm set $Name AppRotateFiles 1
& $Nssm set $Name AppRotateBytes 10485760
# The state directory holds the agent's private key: SYSTEM and Administrators only.
icacls $StateDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
Start-Service $Name
Get-Service $Name
