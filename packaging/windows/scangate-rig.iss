; Inno Setup script of the Windows rig installer: Start-menu shortcut to the technician console.
; UNTESTED: no Windows machine or Inno Setup was available where this was written. A Windows CI
; job would run, after `python packaging\build.py rig` on Windows:
;   iscc packaging\windows\scangate-rig.iss
; and then install dist\scangate-rig-setup.exe silently (/VERYSILENT) and run
;   "%ProgramFiles%\ScanGate\scangate.exe" demo --headless --scenario confirm --out %TEMP%\sg
#define AppVersion "0.1.0"

[Setup]
AppId={{6D0C8C52-6A43-4C7B-9C1E-5C2B7F0A9E31}
AppName=ScanGate
AppVersion={#AppVersion}
AppPublisher=ScanGate engineers
DefaultDirName={autopf}\ScanGate
DefaultGroupName=ScanGate
OutputDir=..\..\dist
OutputBaseFilename=scangate-rig-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
Compression=lzma2
SolidCompression=yes

[Files]
Source: "..\..\dist\scangate-rig\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\ScanGate console"; Filename: "{app}\scangate.exe"; Parameters: "run"
Name: "{group}\ScanGate review"; Filename: "{app}\scangate.exe"; Parameters: "review"
Name: "{group}\ScanGate demo"; Filename: "{app}\scangate.exe"; Parameters: "demo"
Name: "{group}\Uninstall ScanGate"; Filename: "{uninstallexe}"
