#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
Installs proxyd from this checkout on Windows and runs it as a Windows service.

.DESCRIPTION
Checks Node.js (20.19 or newer), builds, installs the package with npm into -Prefix (added to
the machine PATH, so proxyd and proxyctl work in new terminals), fetches WinSW 2.12.0 (the
service wrapper; its SHA-256 is checked) and registers the service with
`proxyctl service install`. Run it again to upgrade in place: the service restarts.
Every external command is run through Step, and README.md lists them in the same order.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install-scripts\install.ps1
powershell -ExecutionPolicy Bypass -File install-scripts\install.ps1 -Uninstall
#>
param(
  # where npm installs the package: $Prefix\proxyd.cmd, $Prefix\proxyctl.cmd
  [string]$Prefix = (Join-Path $env:ProgramFiles 'proxyd'),
  # install the package only
  [switch]$NoService,
  # package the dist\ already built (skip npm ci and npm run build)
  [switch]$NoBuild,
  # proxyctl service uninstall, WinSW removed, then npm uninstall (use the same -Prefix)
  [switch]$Uninstall
)
$ErrorActionPreference = 'Stop'

$WinSWVersion = '2.12.0'
$WinSWUrl = "https://github.com/winsw/winsw/releases/download/v$WinSWVersion/WinSW-x64.exe"
$WinSWSha256 = '05B82D46AD331CC16BDC00DE5C6332C1EF818DF8CEEFCD49C726553209B3A0DA'
$DataDir = Join-Path $env:ProgramData 'proxyd'
$Wrapper = Join-Path $DataDir 'proxyd-service.exe'
$logs = Join-Path $DataDir 'logs'
$proxyctl = Join-Path $Prefix 'proxyctl.cmd'

function Step {
  # one external command, echoed as typed; the first failure stops the install
  Write-Host "> $($args -join ' ')"
  $rest = @($args | Select-Object -Skip 1)
  & $args[0] @rest
  if ($LASTEXITCODE -ne 0) { throw "install.ps1: failed (exit $LASTEXITCODE): $($args -join ' ')" }
}

function Assert-Node {
  if (-not (Get-Command node -ErrorAction SilentlyContinue)) {
    throw 'Node.js 20.19 or newer is needed and was not found: install it from https://nodejs.org (it puts node on PATH), then run this again'
  }
  $version = [version](node --version).TrimStart('v')
  if ($version -lt [version]'20.19.0') { throw "Node.js $version is too old: proxyd needs 20.19 or newer" }
  if ((Get-Command node).Source -like "$env:USERPROFILE*") {
    Write-Warning 'node is in your profile directory, which the service account (LocalService) cannot read: install Node.js for all users'
  }
}

function Install-WinSW {
  if (Test-Path $Wrapper) {
    if ((Get-FileHash $Wrapper -Algorithm SHA256).Hash -ne $WinSWSha256) {
      throw "$Wrapper is not WinSW $WinSWVersion (SHA-256 differs): uninstall with -Uninstall, then run this again"
    }
    return
  }
  Write-Host "downloading WinSW $WinSWVersion from $WinSWUrl"
  Invoke-WebRequest -UseBasicParsing -Uri $WinSWUrl -OutFile "$Wrapper.download"
  if ((Get-FileHash "$Wrapper.download" -Algorithm SHA256).Hash -ne $WinSWSha256) {
    Remove-Item "$Wrapper.download"
    throw "the WinSW download does not have the SHA-256 $WinSWSha256: not installed"
  }
  Move-Item "$Wrapper.download" $Wrapper
}

function Install-Proxyd {
  Assert-Node
  Push-Location (Split-Path -Parent $PSScriptRoot)
  $pack = Join-Path $env:TEMP "proxyd-pack-$PID"
  try {
    if (-not $NoBuild) {
      Step npm ci --no-audit --no-fund
      Step npm run build
    }
    New-Item -ItemType Directory -Force $pack | Out-Null
    Step npm pack --pack-destination $pack
    $tgz = (Get-ChildItem $pack -Filter 'proxyd-*.tgz').FullName
    Step npm install --global --prefix $Prefix --no-audit --no-fund $tgz
  } finally {
    Pop-Location
    Remove-Item -Recurse -Force $pack -ErrorAction SilentlyContinue
  }
  $machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
  if (($machinePath -split ';') -notcontains $Prefix) {
    [Environment]::SetEnvironmentVariable('Path', "$machinePath;$Prefix", 'Machine')
    Write-Host "added $Prefix to the machine PATH (new terminals have proxyd and proxyctl)"
  }
  if ($NoService) { return }
  New-Item -ItemType Directory -Force $logs | Out-Null
  # the service runs as LocalService (S-1-5-19), and WinSW writes its logs as that account
  Step icacls $logs /grant '*S-1-5-19:(OI)(CI)M'
  Install-WinSW
  Step $proxyctl service install
  Write-Host "proxyd runs as the Windows service 'proxyd'; from an elevated prompt: proxyctl --control \\.\pipe\proxyd status"
}

function Uninstall-Proxyd {
  if (-not $NoService -and (Test-Path $proxyctl)) { Step $proxyctl service uninstall }
  if (Test-Path $Wrapper) { Remove-Item $Wrapper }
  if (Test-Path $logs) { Remove-Item -Recurse $logs }
  if ((Test-Path $DataDir) -and -not (Get-ChildItem $DataDir)) { Remove-Item $DataDir }
  Step npm uninstall --global --prefix $Prefix proxyd
  $machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
  [Environment]::SetEnvironmentVariable('Path', (($machinePath -split ';') -ne $Prefix) -join ';', 'Machine')
  Write-Host "proxyd is uninstalled from $Prefix"
}

if ($Uninstall) { Uninstall-Proxyd } else { Install-Proxyd }
