import socket,struct,time,sys
for i in range(4):
    s=socket.socket(); s.connect(('127.0.0.1',18307))
    if sys.argv[1]=='tmo': s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll',1,999000))
    s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    t=time.monotonic(); d=s.recv(1024); print(sys.argv[1], len(d), round(time.monotonic()-t,3)); s.close()
